using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// Weights repacked at load for the tiled int8 kernels: the same products as the float64 reference
/// (within the row kernels' tolerance), bit-identical whatever the batch, a token's position and the
/// row split, and never a different answer for padding rows past a group's end.
/// </summary>
public class RepackedKernelTests
{
    public static IEnumerable<object[]> Types() => [[GgmlType.Q8_0], [GgmlType.Q4_0], [GgmlType.IQ4_NL], [GgmlType.Q4_K], [GgmlType.Q6_K], [GgmlType.Q3_K], [GgmlType.Q5_K], [GgmlType.IQ4_XS],
        [GgmlType.Q4_1], [GgmlType.Q5_0], [GgmlType.Q5_1]];

    private static int[] ColsFor(GgmlType type) => GgmlTypeInfo.BlockSize(type) == 32 ? [32, 96, 32 * 37, 4096] : [256, 256 * 5, 4096];

    private static double Tolerance(GgmlType type) => type is GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.Q3_K or GgmlType.Q5_K or GgmlType.Q4_1 or GgmlType.Q5_1 ? 5e-5 : 2e-5;

    private static WeightMatrix Repacked(GgmlType type, int rows, int cols, ulong seed, out float[] deq)
    {
        var (w, d) = KernelTestData.Weight(type, rows, cols, seed);
        deq = d;
        Assert.True(WeightRepacking.TryRepack(w), $"{type} was not repacked");
        Assert.NotNull(w.Repacked);
        return w;
    }

    private static bool Skip(GgmlType type) => !WeightRepacking.Supports(type);

    [Theory]
    [MemberData(nameof(Types))]
    public void Repacked_products_match_float64_reference(GgmlType type)
    {
        if (Skip(type)) return;
        foreach (int cols in ColsFor(type))
            foreach (int rows in new[] { 1, 7, 16, 67 })
                foreach (int tokens in new[] { 1, 3, 4, 17 })
                {
                    ulong seed = (ulong)type * 1000003 + (ulong)cols * 31 + (ulong)rows * 7 + (ulong)tokens;
                    var w = Repacked(type, rows, cols, seed, out var wd);
                    var x = KernelTestData.Gaussian(tokens * cols, seed + 1);
                    var act = new PreparedActivations();
                    MatMul.Prepare(type, x, tokens, cols, act, KernelPath.Avx512);
                    int stride = rows + 3;
                    var y = new float[tokens * stride];
                    MatMul.Compute(w, act, tokens, y, stride, 0, rows, KernelPath.Avx512);
                    var (yRef, mag) = KernelTestData.Reference(wd, KernelTestData.EffectiveActivations(act, x, tokens, cols), rows, cols, tokens);
                    KernelTestData.AddMinRounding(type, w, act, yRef, rows, cols, tokens);
                    for (int t = 0; t < tokens; t++)
                        for (int r = 0; r < rows; r++)
                        {
                            double err = Math.Abs(y[t * stride + r] - yRef[t * rows + r]) / mag[t * rows + r];
                            Assert.True(err <= Tolerance(type), $"{type} cols {cols} rows {rows} tokens {tokens} t={t} r={r}: {y[t * stride + r]} vs {yRef[t * rows + r]} (rel {err:E2})");
                        }
                    // Padding past the last row is never written: the stride's extra columns stay zero.
                    for (int t = 0; t < tokens; t++)
                        for (int r = rows; r < stride; r++) Assert.Equal(0f, y[t * stride + r]);
                }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Repacked_outputs_are_bitwise_identical_across_batches_positions_and_row_splits(GgmlType type)
    {
        if (Skip(type)) return;
        const int rows = 37, tokens = 17;
        int cols = ColsFor(type)[2];
        var w = Repacked(type, rows, cols, 4242, out _);
        var x = KernelTestData.Gaussian(tokens * cols, 99);
        float[] Run(int first, int count, int[] splits)
        {
            var act = new PreparedActivations();
            MatMul.Prepare(type, x.AsSpan(first * cols, count * cols), count, cols, act, KernelPath.Avx512);
            var y = new float[count * rows];
            for (int i = 0; i + 1 < splits.Length; i++) MatMul.Compute(w, act, count, y, rows, splits[i], splits[i + 1], KernelPath.Avx512);
            return y;
        }
        var full = Run(0, tokens, [0, rows]);
        for (int t = 0; t < tokens; t++) AssertBitwise(full.AsSpan(t * rows, rows), Run(t, 1, [0, rows]), $"token {t} alone");
        foreach (var (first, count) in new[] { (3, 5), (1, 9), (6, 4), (2, 15) })
            AssertBitwise(full.AsSpan(first * rows, count * rows), Run(first, count, [0, rows]), $"tokens [{first}, {first + count})");
        foreach (var splits in new[] { new[] { 0, 1, 2, 18, 19, 37 }, [0, 16, 32, 37], [0, 5, 10, 15, 20, 25, 30, 35, 37] })
            AssertBitwise(full, Run(0, tokens, splits), $"split {string.Join(',', splits)}");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Repacked_and_row_kernels_agree_to_rounding(GgmlType type)
    {
        if (Skip(type)) return;
        const int rows = 48, tokens = 9, cols = 4096;
        var (rowWise, _) = KernelTestData.Weight(type, rows, cols, 17);
        var w = Repacked(type, rows, cols, 17, out _);
        var x = KernelTestData.Gaussian(tokens * cols, 18);
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, act, KernelPath.Avx512);
        var a = new float[tokens * rows];
        var b = new float[tokens * rows];
        MatMul.Compute(w, act, tokens, a, rows, 0, rows, KernelPath.Avx512);
        MatMul.Compute(rowWise, act, tokens, b, rows, 0, rows, KernelPath.Avx512);
        for (int i = 0; i < a.Length; i++)
            Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5f * (Math.Abs(b[i]) + 1), $"element {i}: repacked {a[i]} vs row kernel {b[i]}");
    }

    [Fact]
    public void Repacked_Q4_K_single_tokens_equal_the_row_kernel_bit_for_bit()
    {
        // Both fold each block as ggml's repacked q4_K gemv does (exact integer sums, one FMA per block for
        // the scales and one for the mins, subtracted at the end), so at one token the bits must agree.
        if (Skip(GgmlType.Q4_K)) return;
        foreach (int cols in new[] { 256, 256 * 3, 256 * 11 })
            foreach (int rows in new[] { 5, 16, 83 })
            {
                ulong seed = (ulong)cols * 13 + (ulong)rows;
                var (rowWise, _) = KernelTestData.Weight(GgmlType.Q4_K, rows, cols, seed);
                var w = Repacked(GgmlType.Q4_K, rows, cols, seed, out _);
                var x = KernelTestData.Gaussian(3 * cols, seed + 5);
                for (int t = 0; t < 3; t++)
                {
                    var act = new PreparedActivations();
                    MatMul.Prepare(GgmlType.Q4_K, x.AsSpan(t * cols, cols), 1, cols, act, KernelPath.Avx512);
                    var expected = new float[rows];
                    var actual = new float[rows];
                    MatMul.Compute(rowWise, act, 1, expected, rows, 0, rows, KernelPath.Avx512);
                    // Row ranges that start and end inside groups, as the thread split may cut them.
                    int cut = Math.Min(rows, 7);
                    MatMul.Compute(w, act, 1, actual, rows, 0, cut, KernelPath.Avx512);
                    MatMul.Compute(w, act, 1, actual, rows, cut, rows, KernelPath.Avx512);
                    AssertBitwise(expected, actual, $"cols {cols} rows {rows} token {t}");
                }
            }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.IQ4_NL)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    public void Repacked_4_bit_blocks_equal_the_row_kernel_bit_for_bit_at_one_token_and_many(GgmlType type)
    {
        // Both run llama.cpp's order (one FMA per block per (row, token); Q4_1, Q5_0, Q5_1: eight lanes of four
        // values each, then the mins), so every token's bits agree, in one-token calls and in batches (4-token
        // tiles, the single-token tail), over any row range.
        if (Skip(type)) return;
        foreach (int cols in new[] { 32, 96, 32 * 5, 32 * 37, 4096 })
            foreach (int rows in new[] { 5, 16, 83 })
            {
                ulong seed = (ulong)type * 7919 + (ulong)cols * 17 + (ulong)rows;
                var (rowWise, _) = KernelTestData.Weight(type, rows, cols, seed);
                var w = Repacked(type, rows, cols, seed, out _);
                foreach (int tokens in new[] { 1, 4, 7 })
                {
                    var x = KernelTestData.Gaussian(tokens * cols, seed + (ulong)tokens);
                    var act = new PreparedActivations();
                    MatMul.Prepare(type, x, tokens, cols, act, KernelPath.Avx512);
                    var expected = new float[tokens * rows];
                    var actual = new float[tokens * rows];
                    MatMul.Compute(rowWise, act, tokens, expected, rows, 0, rows, KernelPath.Avx512);
                    // Row ranges that start and end inside groups, as the thread split may cut them.
                    int cut = Math.Min(rows, 7);
                    MatMul.Compute(w, act, tokens, actual, rows, 0, cut, KernelPath.Avx512);
                    MatMul.Compute(w, act, tokens, actual, rows, cut, rows, KernelPath.Avx512);
                    AssertBitwise(expected, actual, $"{type} cols {cols} rows {rows} tokens {tokens}");
                }
            }
    }

    [Fact]
    public void Q4_K_whole_groups_repack_to_the_same_bytes_as_the_value_by_value_copy()
    {
        if (Skip(GgmlType.Q4_K)) return;
        var rng = new Random(31);
        foreach (int blocks in new[] { 1, 4, 11 })
        {
            // Arbitrary bytes: every scale/min bit pattern and every half, NaN and subnormals included.
            int rb = blocks * 144;
            var src = new byte[16 * rb];
            rng.NextBytes(src);
            var expected = new byte[blocks * RepackedQ4_K.BlockBytes];
            var actual = new byte[blocks * RepackedQ4_K.BlockBytes];
            rng.NextBytes(actual); // stale bytes must all be overwritten
            RepackedQ4_K.PartialGroup(src, rb, 16, blocks, ref expected[0]);
            RepackedQ4_K.FullGroup(src, rb, blocks, ref actual[0]);
            for (int i = 0; i < expected.Length; i++)
                if (expected[i] != actual[i]) Assert.Fail($"{blocks} blocks: byte {i} (block {i / RepackedQ4_K.BlockBytes}, offset {i % RepackedQ4_K.BlockBytes}) is {actual[i]}, expected {expected[i]}");
        }
    }

    [Fact]
    public void Fifth_bits_spread_to_byte_c_with_elements_4s_plus_c_low_and_16_plus_4s_plus_c_high()
    {
        if (Skip(GgmlType.Q5_0)) return;
        var rng = new Random(5);
        for (int i = 0; i < 1000; i++)
        {
            uint qh = (uint)rng.NextInt64(0, 1L << 32);
            uint spread = RepackedBlock32<Q5_0Format>.SpreadHighBits(qh);
            for (int c = 0; c < 4; c++)
                for (int s = 0; s < 4; s++)
                {
                    Assert.Equal((qh >> (4 * s + c)) & 1, (spread >> (8 * c + s)) & 1);
                    Assert.Equal((qh >> (16 + 4 * s + c)) & 1, (spread >> (8 * c + 4 + s)) & 1);
                }
        }
    }

    [Fact]
    public void Activations_prepared_on_another_kernel_path_are_refused_by_repacked_weights()
    {
        if (Skip(GgmlType.Q8_0) || !KernelDispatch.IsSupported(KernelPath.Avx2)) return;
        var w = Repacked(GgmlType.Q8_0, 16, 64, 3, out _);
        var act = new PreparedActivations();
        MatMul.Prepare(GgmlType.Q8_0, KernelTestData.Gaussian(64, 4), 1, 64, act, KernelPath.Avx2);
        var ex = Assert.Throws<ArgumentException>(() => MatMul.Compute(w, act, 1, new float[16], 16, 0, 16, KernelPath.Avx512));
        Assert.Contains("another kernel path", ex.Message);
    }

    private static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} differs: {expected[i]:R} vs {actual[i]:R}");
    }
}
