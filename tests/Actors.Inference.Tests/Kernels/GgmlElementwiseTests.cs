using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Cpu.Ops;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The element-wise ops that feed activation quantization, computed as ggml's CPU backend does (so a
/// value lands on the same side of an int8 rounding midpoint as in llama.cpp): ggml's exp polynomial,
/// SiLU built on it, and RMSNorm's f32-rounded squares.
/// </summary>
public class GgmlElementwiseTests
{
    private static float[] Inputs()
    {
        var x = KernelTestData.Gaussian(4096, 11, 20.0);
        float[] edges = [0f, -0f, 1e-30f, -1e-30f, 88.3f, 88.4f, -87.3f, -103.9f, -104f, 130f, -130f, 200f, -200f, float.NegativeInfinity];
        edges.CopyTo(x, 0);
        return x;
    }

    [Fact]
    public void Ggml_exp_is_within_three_ulps_of_float64_exp_over_the_normal_range()
    {
        foreach (float v in Inputs())
        {
            if (v < -87f || v > 88f) continue;
            double exact = Math.Exp(v);
            Assert.True(Math.Abs(GgmlExp.Exp(v) - exact) <= 3 * (MathF.BitIncrement((float)exact) - (float)exact), $"exp({v:R}) = {GgmlExp.Exp(v):R}, float64 {exact:R}");
        }
    }

    [Fact]
    public void Ggml_exp_saturates_to_zero_and_infinity_beyond_its_range()
    {
        Assert.Equal(0f, GgmlExp.Exp(-200f));
        Assert.Equal(0f, GgmlExp.Exp(float.NegativeInfinity));
        Assert.Equal(float.PositiveInfinity, GgmlExp.Exp(200f));
        Assert.Equal(1f, GgmlExp.Exp(0f));
    }

    [Fact]
    public void Ggml_exp_vector_and_scalar_lanes_give_identical_bits()
    {
        if (!Avx512F.IsSupported) return; // the vector form is the AVX-512 one; the scalar form is what runs elsewhere
        var x = Inputs();
        for (int i = 0; i < x.Length; i += 16)
        {
            var v = GgmlExp.Exp(Vector512.Create<float>(x.AsSpan(i, 16)));
            for (int j = 0; j < 16; j++)
            {
                float s = GgmlExp.Exp(x[i + j]);
                if (float.IsNormal(s) || s == 0 || float.IsInfinity(s)) Assert.Equal(BitConverter.SingleToInt32Bits(s), BitConverter.SingleToInt32Bits(v[j]));
            }
        }
    }

    [Fact]
    public void SwiGlu_is_silu_times_up_within_float_rounding_of_a_float64_reference_on_every_chunk_and_the_tail()
    {
        var gate = KernelTestData.Gaussian(16 * 9 + 7, 5, 4.0); // 9 full chunks and a 7-value tail
        var up = KernelTestData.Gaussian(gate.Length, 6, 1.0);
        var expected = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray();
        var h = (float[])gate.Clone();
        SwiGlu.ApplyInPlace(h, up);
        for (int i = 0; i < h.Length; i++)
            Assert.True(Math.Abs(h[i] - expected[i]) <= 4e-7 * Math.Abs(expected[i]) + 1e-30, $"h[{i}] = {h[i]:R}, float64 {expected[i]:R}");
        // Chunks: x / (1 + ggml_exp(−x)) · up exactly (no fused or reordered steps).
        for (int i = 0; i < 16 * 9; i++) Assert.Equal(gate[i] / (1f + GgmlExp.Exp(-gate[i])) * up[i], h[i]);
    }

    [Fact]
    public void RmsNorm_sums_f32_rounded_squares_in_double_as_ggml_does()
    {
        var x = KernelTestData.Gaussian(1000, 8, 3.0);
        double ggml = 0;
        foreach (float v in x) ggml += (double)(v * v);
        Assert.Equal(ggml, RmsNorm.SumOfSquares(x), 1e-12 * ggml);
        double exactSquares = x.Sum(v => (double)v * v);
        Assert.NotEqual(exactSquares, RmsNorm.SumOfSquares(x)); // the rounding of each square is kept, not removed
    }
}
