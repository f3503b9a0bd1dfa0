using Actors.Inference.Cpu.Ops;
using System.Runtime.Intrinsics.X86;
using Xunit;

namespace Actors.Inference.Tests.Ops;

/// <summary>
/// The register-tiled <see cref="PagedAttentionFast"/> (what <see cref="PagedAttention.AttendHead"/> and
/// <see cref="PagedAttention.AttendHeads"/> run on AVX-512 for head dims ≥ 64; called directly here, so 32 and 48 too) must give every bit of <see cref="PagedAttention.AttendHeadReference"/>, the plain form of
/// llama.cpp's order: random data, K/V over a shuffled block table whose unused slots hold NaN.
/// </summary>
public class PagedAttentionFastTests
{
    public static TheoryData<int, int, int, float, int> Cases() => new()
    {
        // headDim, context, first, softcap, blockSize
        { 32, 37, 0, 0f, 16 },     // no 64-block: the dot is all tail
        { 64, 1, 0, 0f, 16 },      // one position
        { 64, 3, 0, 0f, 16 },      // fewer keys than one group of four
        { 64, 71, 0, 0f, 16 },     // odd, a partial last block and a single-key remainder
        { 64, 133, 29, 0f, 16 },   // sliding window starting inside a 16-cell group
        { 64, 90, 0, 30f, 16 },    // softcap
        { 80, 57, 0, 0f, 16 },     // one 64-block plus a 16 tail; V in a 64 and a 16 pass
        { 128, 45, 7, 50f, 16 },   // window and softcap
        { 128, 200, 0, 0f, 7 },    // block size 7: runs not aligned to 16-cell groups
        { 256, 39, 3, 0f, 5 },     // the widest head, short runs
        { 48, 66, 0, 0f, 16 },     // not a multiple of 64 at all: tail dot, a 48-wide V pass
        { 112, 51, 18, 0f, 3 },    // 64 + 48, window, three slots a block
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tiled_kernel_gives_the_bits_of_the_reference_order(int headDim, int context, int first, float softcap, int blockSize)
    {
        var (q, k, v, table, kvDim, kvOffset, scale) = Inputs(headDim, context, first, blockSize, queryHeads: 1);
        int scratch = PagedAttention.ScratchLength(context, headDim);
        var fast = new float[headDim];
        var reference = new float[headDim];
        PagedAttentionFast.AttendHead(q, k, v, kvDim, kvOffset, table, blockSize, first, context, scale, softcap, new float[scratch], fast);
        PagedAttention.AttendHeadReference(q, k, v, kvDim, kvOffset, table, blockSize, first, context, scale, softcap, new float[scratch], reference);
        AssertSameBits(reference, fast);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Query_heads_of_one_kv_head_together_give_each_head_its_bits_alone(int headDim, int context, int first, float softcap, int blockSize)
    {
        foreach (int heads in new[] { 2, 3, 4 })
        {
            var (q, k, v, table, kvDim, kvOffset, scale) = Inputs(headDim, context, first, blockSize, heads);
            int one = PagedAttention.ScratchLength(context, headDim);
            var together = new float[heads * headDim];
            PagedAttentionFast.AttendHeads(heads, q, k, v, kvDim, kvOffset, table, blockSize, first, context, scale, softcap, new float[heads * one], together);
            var alone = new float[heads * headDim];
            for (int h = 0; h < heads; h++)
                PagedAttention.AttendHeadReference(q.AsSpan(h * headDim, headDim), k, v, kvDim, kvOffset, table, blockSize, first, context, scale, softcap,
                    new float[one], alone.AsSpan(h * headDim, headDim));
            AssertSameBits(alone, together);
        }
    }

    [Fact]
    public void The_public_group_entry_gives_each_head_its_bits_alone_on_either_path()
    {
        foreach (int headDim in new[] { 32, 64 })
        {
            var (q, k, v, table, kvDim, kvOffset, scale) = Inputs(headDim, 41, 0, 16, 2);
            int one = PagedAttention.ScratchLength(41, headDim);
            var together = new float[2 * headDim];
            PagedAttention.AttendHeads(2, q, k, v, kvDim, kvOffset, table, 16, 0, 41, scale, 0f, new float[2 * one], together);
            var alone = new float[2 * headDim];
            for (int h = 0; h < 2; h++)
                PagedAttention.AttendHead(q.AsSpan(h * headDim, headDim), k, v, kvDim, kvOffset, table, 16, 0, 41, scale, 0f, new float[one], alone.AsSpan(h * headDim, headDim));
            AssertSameBits(alone, together);
        }
    }

    private static void AssertSameBits(float[] expected, float[] actual)
    {
        Assert.True(Avx512F.IsSupported, "this machine has no AVX-512: the tiled kernel does not run here");
        for (int d = 0; d < expected.Length; d++)
            Assert.True(BitConverter.SingleToInt32Bits(expected[d]) == BitConverter.SingleToInt32Bits(actual[d]),
                $"[{d}]: reference {expected[d]:R} vs tiled {actual[d]:R}");
    }

    private static (float[] Q, float[] K, float[] V, int[] Table, int KvDim, int KvOffset, float Scale) Inputs(int headDim, int context, int first, int blockSize, int queryHeads)
    {
        var rng = new Random(headDim * 7919 + context * 31 + first + blockSize + 1000 * queryHeads);
        int kvHeads = 3, kvDim = kvHeads * headDim, kvHead = 2;
        int blocks = (context + blockSize - 1) / blockSize + 4;
        var table = Enumerable.Range(0, blocks).OrderBy(_ => rng.Next()).ToArray();
        var k = new float[blocks * blockSize * kvDim];
        var v = new float[k.Length];
        Array.Fill(k, float.NaN);
        Array.Fill(v, float.NaN);
        for (int p = 0; p < context; p++)
        {
            int slot = table[p / blockSize] * blockSize + p % blockSize;
            for (int i = 0; i < kvDim; i++)
            {
                k[slot * kvDim + i] = (float)(rng.NextDouble() * 4 - 2);
                v[slot * kvDim + i] = (float)(rng.NextDouble() * 2 - 1);
            }
        }
        var q = Enumerable.Range(0, queryHeads * headDim).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        return (q, k, v, table, kvDim, kvHead * headDim, 1f / MathF.Sqrt(headDim));
    }
}
