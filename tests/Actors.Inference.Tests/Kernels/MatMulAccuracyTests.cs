using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// Every weight type on every kernel path against a float64 product of the dequantized weights and
/// the activations the kernel multiplies with. The error is measured relative to Σ|w·x| of the
/// output, which is what f32 accumulation error scales with.
/// </summary>
public class MatMulAccuracyTests
{
    /// <summary>
    /// Relative tolerance per type. Float weights: f32 FMA chains over at most cols/16 terms per lane
    /// (≈ 256·2^-24 ≈ 1.5e-5 worst case at 4096 columns, typically far less). Q8_0/Q4_0: exact integer
    /// block sums, then one f32 scale product and one f32 FMA per block. Q4_K/Q6_K: the same, plus
    /// the min/offset term, a second f32 sum that partially cancels the first.
    /// </summary>
    private static double Tolerance(GgmlType t) => t switch
    {
        GgmlType.Q4_K or GgmlType.Q6_K or GgmlType.Q2_K or GgmlType.Q5_K or GgmlType.Q4_1 or GgmlType.Q5_1 => 5e-5,
        _ => 2e-5,
    };

    public static IEnumerable<object[]> Cases()
    {
        foreach (var type in KernelTestData.Types)
        {
            int bs = GgmlTypeInfo.BlockSize(type);
            int[] cols = bs switch
            {
                1 => [1, 103, 4096],            // one value; 64 + 2·16 + 7 (every loop stage); large
                32 => [32, 96, 32 * 23, 32 * 37, 4096],  // one block; pair + lone block; group + quad + pair + lone; 2 groups + quad + lone; 8 groups
                _ => [256, 256 * 5, 4096],      // one block; odd block count; large
            };
            foreach (var path in KernelTestData.Paths)
                foreach (int c in cols)
                    foreach (int rows in new[] { 1, 7, 67 })
                        foreach (int tokens in new[] { 1, 3, 17 })
                            yield return [type, path, c, rows, tokens];
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_float64_reference(GgmlType type, KernelPath path, int cols, int rows, int tokens)
    {
        if (KernelTestData.Skip(path)) return;
        ulong seed = (ulong)type * 1000003 + (ulong)cols * 31 + (ulong)rows * 7 + (ulong)tokens;
        var (w, wd) = KernelTestData.Weight(type, rows, cols, seed);
        var x = KernelTestData.Gaussian(tokens * cols, seed + 1);
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, act, path);
        int stride = rows + 3; // a stride wider than the row count, as a caller with padding would use
        var y = new float[tokens * stride];
        MatMul.Compute(w, act, tokens, y, stride, 0, rows, path);
        var (yRef, mag) = KernelTestData.Reference(wd, KernelTestData.EffectiveActivations(act, x, tokens, cols), rows, cols, tokens);
        KernelTestData.AddMinRounding(type, w, act, yRef, rows, cols, tokens);
        double tol = Tolerance(type), worst = 0;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double err = Math.Abs(y[t * stride + r] - yRef[t * rows + r]) / mag[t * rows + r];
                worst = Math.Max(worst, err);
                Assert.True(err <= tol, $"{type} {path} t={t} r={r}: {y[t * stride + r]} vs {yRef[t * rows + r]} (rel {err:E2} > {tol:E0})");
            }
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    [InlineData(GgmlType.BF16)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.IQ4_NL)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.IQ4_XS)]
    public void Quantized_activations_stay_close_to_the_float_product(GgmlType type)
    {
        // End to end, including activation quantization: int8 activations cost about 1% of Σ|w·x|
        // (BF16 activations far less).
        const int rows = 9, cols = 4096;
        var (w, wd) = KernelTestData.Weight(type, rows, cols, 77);
        var x = KernelTestData.Gaussian(cols, 78);
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, 1, cols, act);
        var y = new float[rows];
        MatMul.Compute(w, act, 1, y, rows, 0, rows);
        var xd = Array.ConvertAll(x, v => (double)v);
        var (yRef, mag) = KernelTestData.Reference(wd, xd, rows, cols, 1);
        for (int r = 0; r < rows; r++) Assert.True(Math.Abs(y[r] - yRef[r]) <= 0.01 * mag[r], $"row {r}: {y[r]} vs {yRef[r]}");
    }

    [Theory]
    [InlineData(KernelPath.Avx512)]
    [InlineData(KernelPath.Avx2)]
    [InlineData(KernelPath.Portable)]
    public void F16_rows_with_infinity_or_nan_give_infinity_or_nan(KernelPath path)
    {
        if (KernelTestData.Skip(path)) return;
        const int rows = 4, cols = 100;
        var (w, _) = KernelTestData.Weight(GgmlType.F16, rows, cols, 5);
        var bytes = w.RowSpan(0, rows).ToArray();
        BitConverter.TryWriteBytes(bytes.AsSpan(2 * 17), (ushort)0x7C00);             // row 0: +inf in the vector part
        BitConverter.TryWriteBytes(bytes.AsSpan(w.RowBytes + 2 * 98), (ushort)0xFC00); // row 1: -inf in the scalar tail
        BitConverter.TryWriteBytes(bytes.AsSpan(2 * w.RowBytes + 2 * 40), (ushort)0x7E00); // row 2: NaN
        var wm = new Actors.Inference.Model.WeightMatrix("w", GgmlType.F16, rows, cols, Actors.Inference.Model.TensorSource.FromArray(bytes));
        var x = KernelTestData.Gaussian(cols, 6);
        x[17] = Math.Abs(x[17]);
        x[98] = Math.Abs(x[98]);
        var act = new PreparedActivations();
        MatMul.Prepare(GgmlType.F16, x, 1, cols, act, path);
        var y = new float[rows];
        MatMul.Compute(wm, act, 1, y, rows, 0, rows, path);
        Assert.Equal(float.PositiveInfinity, y[0]);
        Assert.Equal(float.NegativeInfinity, y[1]);
        Assert.True(float.IsNaN(y[2]));
        Assert.True(float.IsFinite(y[3]));
    }

    [Fact]
    public void F16_infinity_in_a_column_blocked_prefill_row_gives_infinity_for_every_token()
    {
        // 2100 columns and 7 tokens take the cache-blocked prefill (6 tokens) plus one single token.
        const int rows = 3, cols = 2100, tokens = 7;
        var (w, _) = KernelTestData.Weight(GgmlType.F16, rows, cols, 15);
        var bytes = w.RowSpan(0, rows).ToArray();
        BitConverter.TryWriteBytes(bytes.AsSpan(w.RowBytes + 2 * 1500), (ushort)0x7C00); // row 1, second column block
        var wm = new Actors.Inference.Model.WeightMatrix("w", GgmlType.F16, rows, cols, Actors.Inference.Model.TensorSource.FromArray(bytes));
        var x = KernelTestData.Gaussian(tokens * cols, 16);
        for (int t = 0; t < tokens; t++) x[t * cols + 1500] = Math.Abs(x[t * cols + 1500]);
        foreach (var path in KernelTestData.Paths)
        {
            if (KernelTestData.Skip(path)) continue;
            var act = new PreparedActivations();
            MatMul.Prepare(GgmlType.F16, x, tokens, cols, act, path);
            var y = new float[tokens * rows];
            MatMul.Compute(wm, act, tokens, y, rows, 0, rows, path);
            for (int t = 0; t < tokens; t++)
            {
                Assert.Equal(float.PositiveInfinity, y[t * rows + 1]);
                Assert.True(float.IsFinite(y[t * rows]) && float.IsFinite(y[t * rows + 2]), $"{path} token {t}");
            }
        }
    }

    [Fact]
    public void F16_subnormal_infinite_and_nan_weights_convert_exactly()
    {
        ushort[] bits = [0x0001, 0x03FF, 0x8001, 0x0400, 0x7BFF, 0xFBFF, 0x3C00, 0x8000, 0x0000, 0x7C00, 0xFC00, 0x7E00, 0x3555, 0x1234, 0x0200, 0xC000];
        var h = System.Runtime.Intrinsics.Vector512.Create(Array.ConvertAll(bits, b => (uint)b));
        if (System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
        {
            var f = HalfConversion.ToSingle(h);
            var g = HalfConversion.FromSignExtended(System.Runtime.Intrinsics.Vector512.Create(Array.ConvertAll(bits, b => (int)(short)b)));
            for (int i = 0; i < 16; i++)
            {
                int expected = BitConverter.SingleToInt32Bits((float)BitConverter.UInt16BitsToHalf(bits[i]));
                Assert.Equal(expected, BitConverter.SingleToInt32Bits(f[i]));
                Assert.Equal(expected, BitConverter.SingleToInt32Bits(g[i]));
            }
        }
        for (int i = 0; i < 16; i += 4)
        {
            var f = HalfConversion.ToSingle(System.Runtime.Intrinsics.Vector128.Create(bits[i], bits[i + 1], bits[i + 2], (uint)bits[i + 3]));
            for (int j = 0; j < 4; j++) Assert.Equal(BitConverter.SingleToInt32Bits((float)BitConverter.UInt16BitsToHalf(bits[i + j])), BitConverter.SingleToInt32Bits(f[j]));
        }
    }
}
