using System.Buffers.Binary;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The float order of the kernels that llama.cpp's AVX-512 build runs differently for a batch and for one
/// token, against scalar models of its code written from the block formats (ggml's get_scale_min_k4, the
/// 2-bit layout, Q8_K's 16-value sums): bit for bit, per token in the order its flag names. Q4_K: its repacked
/// q4_K 8×8 gemm folds per 64 values, its gemv per block; Q2_K: gemm per 128 values, gemv per block; Q8_0:
/// tinyBLAS's eight lanes for both; F32: tinyBLAS's one 16-lane chain for a batch (its vec_dot order, checked
/// elsewhere, for one token). And a token's result depends on its own flag only (batch invariance).
/// </summary>
public class LlamaCppOrderTests
{
    private const int Rows = 37, Tokens = 9;

    /// <summary>Each type with whether its weights are repacked (Q2_K both ways: its row kernel keeps the batch order when repacking is off).</summary>
    public static IEnumerable<object[]> Types() => [[GgmlType.Q4_K, true], [GgmlType.Q2_K, false], [GgmlType.Q2_K, true], [GgmlType.Q8_0, true], [GgmlType.F32, false]];

    private static bool Skip(GgmlType type, bool repack) =>
        !KernelDispatch.IsSupported(KernelPath.Avx512) || (repack && !WeightRepacking.Supports(type));

    private static int ColsFor(GgmlType type) => type switch { GgmlType.Q8_0 => 32 * 37, GgmlType.F32 => 16 * 37, _ => 256 * 5 };

    /// <summary>Token t in the batch order unless t mod 3 == 2: batch-order tokens that are not consecutive.</summary>
    private static bool[] Flags(int tokens) => Enumerable.Range(0, tokens).Select(t => t % 3 != 2).ToArray();

    private static (WeightMatrix W, byte[] Bytes) Weight(GgmlType type, bool repack, int cols, ulong seed)
    {
        var (w, _) = KernelTestData.Weight(type, Rows, cols, seed);
        var bytes = w.RowSpan(0, Rows).ToArray();
        if (repack) Assert.True(WeightRepacking.TryRepack(w), $"{type} was not repacked");
        return (w, bytes);
    }

    private static float[] Run(WeightMatrix w, float[] x, int first, int count, bool[] flags, int[] splits)
    {
        int cols = w.Cols;
        var act = new PreparedActivations();
        MatMul.Prepare(w.Type, x.AsSpan(first * cols, count * cols), count, cols, act, KernelPath.Avx512);
        act.SetTokenOrder(flags.AsSpan(first, count));
        var y = new float[count * Rows];
        for (int i = 0; i + 1 < splits.Length; i++) MatMul.Compute(w, act, count, y, Rows, splits[i], splits[i + 1], KernelPath.Avx512);
        return y;
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Each_token_is_summed_in_llama_cpps_order_for_its_flag_bit_for_bit(GgmlType type, bool repack)
    {
        if (Skip(type, repack)) return;
        int cols = ColsFor(type);
        var (w, bytes) = Weight(type, repack, cols, 31 + (ulong)type);
        var x = KernelTestData.Gaussian(Tokens * cols, 32 + (ulong)type);
        var flags = Flags(Tokens);
        var y = Run(w, x, 0, Tokens, flags, [0, Rows]);

        var act = new PreparedActivations();
        MatMul.Prepare(type, x, Tokens, cols, act, KernelPath.Avx512);
        var plain = new float[Tokens * Rows]; // no flags: every token in the one-token order
        MatMul.Compute(w, act, Tokens, plain, Rows, 0, Rows, KernelPath.Avx512);
        int rb = bytes.Length / Rows, differ = 0;
        for (int t = 0; t < Tokens; t++)
            for (int r = 0; r < Rows; r++)
            {
                var row = bytes.AsSpan(r * rb, rb);
                float expected = type switch
                {
                    GgmlType.Q4_K => Q4_K(row, act, t, foldsPerBlock: flags[t] ? 4 : 1),
                    GgmlType.Q2_K => Q2_K(row, act, t, foldsPerBlock: flags[t] ? 2 : 1),
                    GgmlType.Q8_0 => Q8_0(row, act, t),
                    _ => flags[t] ? F32(row, x.AsSpan(t * cols, cols)) : plain[t * Rows + r],
                };
                float other = type switch
                {
                    GgmlType.Q4_K => Q4_K(row, act, t, foldsPerBlock: flags[t] ? 1 : 4),
                    GgmlType.Q2_K => Q2_K(row, act, t, foldsPerBlock: flags[t] ? 1 : 2),
                    GgmlType.Q8_0 => expected,
                    _ => plain[t * Rows + r],
                };
                if (expected != other) differ++;
                Assert.True(BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[t * Rows + r]),
                    $"{type} token {t} ({(flags[t] ? "batch" : "one-token")} order) row {r}: {y[t * Rows + r]:R}, llama.cpp's order gives {expected:R}");
            }
        // The two orders must really differ somewhere, or this test could not tell them apart.
        if (type != GgmlType.Q8_0) Assert.True(differ > 0, $"{type}: the batch and one-token orders agree on every output");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void A_tokens_result_depends_on_its_own_order_flag_only(GgmlType type, bool repack)
    {
        if (Skip(type, repack)) return;
        const int tokens = 17;
        int cols = ColsFor(type);
        var (w, _) = Weight(type, repack, cols, 77);
        var x = KernelTestData.Gaussian(tokens * cols, 78);
        var flags = Flags(tokens);
        var full = Run(w, x, 0, tokens, flags, [0, Rows]);
        for (int t = 0; t < tokens; t++) AssertBitwise(full.AsSpan(t * Rows, Rows), Run(w, x, t, 1, flags, [0, Rows]), $"{type} token {t} alone");
        foreach (var (first, count) in new[] { (3, 5), (1, 9), (6, 4), (2, 15) })
            AssertBitwise(full.AsSpan(first * Rows, count * Rows), Run(w, x, first, count, flags, [0, Rows]), $"{type} tokens [{first}, {first + count})");
        foreach (var splits in new[] { new[] { 0, 1, 2, 18, 19, 37 }, [0, 16, 32, 37], [0, 5, 10, 15, 20, 25, 30, 35, 37] })
            AssertBitwise(full, Run(w, x, 0, tokens, flags, splits), $"{type} split {string.Join(',', splits)}");
        // Every token in the one-token order is what activations without flags give.
        var none = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, none, KernelPath.Avx512);
        var plain = new float[tokens * Rows];
        MatMul.Compute(w, none, tokens, plain, Rows, 0, Rows, KernelPath.Avx512);
        AssertBitwise(plain, Run(w, x, 0, tokens, new bool[tokens], [0, Rows]), $"{type} all in the one-token order");
    }

    /// <summary>ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j from the 12 packed bytes.</summary>
    private static (int Scale, int Min) ScaleMin(ReadOnlySpan<byte> q, int j) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    private static float Half(ReadOnlySpan<byte> b) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b));

    /// <summary>
    /// Q4_K × Q8_K as llama.cpp's repacked kernels: the exact integer Σ sc_j·Σq·x and Σ m_j·Σx over
    /// 256 / <paramref name="foldsPerBlock"/> values, each folded as fma(f32(int), d·d_x, acc) (values and
    /// mins in separate accumulators), then acc − mins.
    /// </summary>
    private static float Q4_K(ReadOnlySpan<byte> row, PreparedActivations a, int t, int foldsPerBlock)
    {
        float acc = 0, mins = 0;
        int span = 8 / foldsPerBlock; // sub-blocks per fold
        for (int b = 0; b < a.Blocks; b++)
        {
            var blk = row.Slice(144 * b, 144);
            float dx = a.Scales[t * a.ScaleStride + b], e = Half(blk) * dx, f = Half(blk[2..]) * dx;
            for (int j0 = 0; j0 < 8; j0 += span)
            {
                int isum = 0, msum = 0;
                for (int j = j0; j < j0 + span; j++)
                {
                    var (sc, m) = ScaleMin(blk.Slice(4, 12), j);
                    int dot = 0, sum = 0;
                    for (int l = 0; l < 32; l++)
                    {
                        int q = (blk[16 + 32 * (j / 2) + l] >> (4 * (j % 2))) & 15;
                        int xv = a.QuantAt(t, 256 * b + 32 * j + l);
                        dot += q * xv;
                        sum += xv;
                    }
                    isum += sc * dot;
                    msum += m * sum;
                }
                acc = MathF.FusedMultiplyAdd(isum, e, acc);
                mins = MathF.FusedMultiplyAdd(msum, f, mins);
            }
        }
        return acc - mins;
    }

    /// <summary>Q2_K × Q8_K as llama.cpp's repacked kernels, the 16-value sub-blocks folded 16 / <paramref name="foldsPerBlock"/> at a time.</summary>
    private static float Q2_K(ReadOnlySpan<byte> row, PreparedActivations a, int t, int foldsPerBlock)
    {
        float acc = 0, mins = 0;
        int span = 16 / foldsPerBlock;
        for (int b = 0; b < a.Blocks; b++)
        {
            var blk = row.Slice(84 * b, 84);
            float dx = a.Scales[t * a.ScaleStride + b], e = Half(blk[80..]) * dx, f = Half(blk[82..]) * dx;
            for (int j0 = 0; j0 < 16; j0 += span)
            {
                int isum = 0, msum = 0;
                for (int j = j0; j < j0 + span; j++)
                {
                    int dot = 0;
                    for (int l = 0; l < 16; l++)
                    {
                        int v = 16 * j + l, n = v / 128, k = v % 128 / 32, i = v % 32;
                        dot += ((blk[16 + 32 * n + i] >> (2 * k)) & 3) * a.QuantAt(t, 256 * b + v);
                    }
                    isum += (blk[j] & 15) * dot;
                    msum += (blk[j] >> 4) * a.Sums16[(t * a.Blocks + b) * 16 + j];
                }
                acc = MathF.FusedMultiplyAdd(isum, e, acc);
                mins = MathF.FusedMultiplyAdd(msum, f, mins);
            }
        }
        return acc - mins;
    }

    /// <summary>Q8_0 × Q8_0 as tinyBLAS: lane s = Σ of values 4s..4s+3 of each block, fma(f32(lane), d·d_x, acc_s), then its tree.</summary>
    private static float Q8_0(ReadOnlySpan<byte> row, PreparedActivations a, int t)
    {
        Span<float> l = stackalloc float[8];
        for (int b = 0; b < a.Blocks; b++)
        {
            var blk = row.Slice(34 * b, 34);
            float d = Half(blk) * a.Scales[t * a.ScaleStride + b];
            for (int s = 0; s < 8; s++)
            {
                int lane = 0;
                for (int k = 0; k < 4; k++) lane += (sbyte)blk[2 + 4 * s + k] * a.QuantAt(t, 32 * b + 4 * s + k);
                l[s] = MathF.FusedMultiplyAdd(lane, d, l[s]);
            }
        }
        return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
    }

    /// <summary>F32 as tinyBLAS: one 16-lane FMA chain from zero over the row, then _mm512_reduce_add_ps's tree.</summary>
    private static float F32(ReadOnlySpan<byte> row, ReadOnlySpan<float> x)
    {
        var w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(row);
        Span<float> l = stackalloc float[16];
        for (int i = 0; i < w.Length; i++) l[i % 16] = MathF.FusedMultiplyAdd(w[i], x[i], l[i % 16]);
        Span<float> h = stackalloc float[8];
        for (int k = 0; k < 8; k++) h[k] = l[k + 8] + l[k];
        Span<float> q = stackalloc float[4];
        for (int k = 0; k < 4; k++) q[k] = h[k + 4] + h[k];
        return (q[0] + q[2]) + (q[1] + q[3]);
    }

    private static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} differs: {expected[i]:R} vs {actual[i]:R}");
    }
}
