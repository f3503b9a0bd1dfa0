using Actors.Inference.Cpu.Ops;
using Xunit;

namespace Actors.Inference.Tests.Ops;

/// <summary>
/// <see cref="PagedAttention.AttendHead"/> against a float64 softmax(q·Kᵀ·scale)·V over the same
/// positions, with K/V scattered over a shuffled block table, random data, every head-dimension path.
/// </summary>
public class PagedAttentionTests
{
    private const int BlockSize = 16;

    public static TheoryData<int, int, int, float> Cases() => new()
    {
        { 64, 70, 0, 0f },    // vectorized, four accumulators, a partial last block
        { 128, 37, 0, 0f },   // two 64-wide passes over V
        { 80, 33, 0, 0f },    // 5 vectors: one full pass and a one-vector pass
        { 256, 19, 0, 0f },   // the widest vectorized head
        { 24, 29, 0, 0f },    // not a multiple of 16: portable path
        { 64, 90, 41, 0f },   // sliding window starting inside a block
        { 64, 50, 0, 30f },   // softcap
        { 64, 1, 0, 0f },     // one position
    };

    private static int[] ShuffledTable(int positions, Random rng) =>
        Enumerable.Range(0, (positions + BlockSize - 1) / BlockSize + 3).OrderBy(_ => rng.Next()).ToArray();

    private static float[] Scatter(float[][] rows, int kvDim, int[] table)
    {
        int blocks = table.Length;
        var pool = new float[blocks * BlockSize * kvDim];
        for (int i = 0; i < pool.Length; i++) pool[i] = float.NaN; // unused slots must never be read
        for (int p = 0; p < rows.Length; p++)
            rows[p].CopyTo(pool, (table[p / BlockSize] * BlockSize + p % BlockSize) * kvDim);
        return pool;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_a_float64_reference_over_a_scattered_block_table(int headDim, int context, int first, float softcap)
    {
        var rng = new Random(headDim * 1000 + context + first);
        int kvHeads = 2, kvDim = kvHeads * headDim, kvHead = 1;
        float Next() => (float)(rng.NextDouble() * 2 - 1);
        var k = Enumerable.Range(0, context).Select(_ => Enumerable.Range(0, kvDim).Select(_ => Next() * 2).ToArray()).ToArray();
        var v = Enumerable.Range(0, context).Select(_ => Enumerable.Range(0, kvDim).Select(_ => Next()).ToArray()).ToArray();
        var q = Enumerable.Range(0, headDim).Select(_ => Next() * 2).ToArray();
        var table = ShuffledTable(context, rng);
        float[] kPool = Scatter(k, kvDim, table), vPool = Scatter(v, kvDim, table);
        float scale = 1f / MathF.Sqrt(headDim);

        var output = new float[headDim];
        PagedAttention.AttendHead(q, kPool, vPool, kvDim, kvHead * headDim, table, BlockSize, first, context, scale, softcap,
            new float[PagedAttention.ScratchLength(context, headDim) + 5], output);

        var s = new double[context - first];
        for (int j = 0; j < s.Length; j++)
        {
            double d = 0;
            for (int i = 0; i < headDim; i++) d += (double)q[i] * k[first + j][kvHead * headDim + i];
            // ggml's order: soft-cap the raw score, then soft_max_ext's scale (Q is pre-scaled where a model soft-caps).
            s[j] = (softcap > 0 ? Math.Tanh(d / softcap) * softcap : d) * scale;
        }
        double max = s.Max(), sum = s.Sum(x => Math.Exp(x - max));
        for (int i = 0; i < headDim; i++)
        {
            double expected = 0;
            for (int j = 0; j < s.Length; j++) expected += Math.Exp(s[j] - max) / sum * v[first + j][kvHead * headDim + i];
            Assert.True(Math.Abs(output[i] - expected) <= 2e-6 + 1e-5 * Math.Abs(expected),
                $"dim {i}: {output[i]} vs {expected} (head {headDim}, context {context}, first {first})");
        }
    }

    [Fact]
    public void A_query_gives_the_same_bits_from_any_scratch_buffer()
    {
        var rng = new Random(7);
        int headDim = 64, context = 300, kvDim = headDim;
        var k = Enumerable.Range(0, context).Select(_ => Enumerable.Range(0, kvDim).Select(_ => (float)rng.NextDouble() - 0.5f).ToArray()).ToArray();
        var table = ShuffledTable(context, rng);
        var pool = Scatter(k, kvDim, table);
        var q = Enumerable.Range(0, headDim).Select(_ => (float)rng.NextDouble()).ToArray();
        var a = new float[headDim];
        var b = new float[headDim];
        PagedAttention.AttendHead(q, pool, pool, kvDim, 0, table, BlockSize, 0, context, 0.125f, 0, new float[PagedAttention.ScratchLength(context, headDim)], a);
        // A larger, differently aligned scratch: the softmax sum must not depend on it.
        PagedAttention.AttendHead(q, pool, pool, kvDim, 0, table, BlockSize, 0, context, 0.125f, 0, new float[PagedAttention.ScratchLength(context, headDim) + 7].AsSpan(3), b);
        Assert.Equal(a, b);
    }

    [Fact]
    public void A_block_table_too_short_for_the_context_is_rejected_with_the_position()
    {
        var pool = new float[4 * BlockSize * 64];
        var ex = Assert.Throws<ArgumentException>(() => PagedAttention.AttendHead(new float[64], pool, pool, 64, 0, new[] { 0, 1 }, BlockSize, 0, 40,
            1f, 0, new float[PagedAttention.ScratchLength(40, 64)], new float[64]));
        Assert.Contains("position 39", ex.Message);
    }
}
