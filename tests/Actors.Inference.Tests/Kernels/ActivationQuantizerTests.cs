using Actors.Inference.Cpu.Kernels;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>The activation quantizers against float64 re-derivations of ggml's definitions.</summary>
public class ActivationQuantizerTests
{
    // Scales: f32 arithmetic on an exact amax, so within a few ulps of the float64 value.
    private const double ScaleRelTol = 1e-6;
    // A quantized value may differ by one only where x/d lies this close to a rounding midpoint.
    private const double TieWindow = 1e-4;

    /// <summary>
    /// ggml's x86 quantize_row_q8_0 / q8_1: q = round-half-even(x·127/amax), d = f16(amax/127); Q8_1 also
    /// s = f16(amax/127·Σq) from the unrounded d.
    /// </summary>
    [Theory]
    [InlineData(32, 1, false)]
    [InlineData(32 * 37, 2, false)]
    [InlineData(4096, 3, false)]
    [InlineData(32, 1, true)]
    [InlineData(32 * 37, 2, true)]
    [InlineData(4096, 3, true)]
    public void Q8_0_and_Q8_1_match_a_float64_reference(int n, ulong seed, bool q8_1)
    {
        var x = KernelTestData.Gaussian(n, seed, 3.0);
        x[5] = -40f; // a dominant negative value in the first block
        int nb = n / 32;
        var q = new sbyte[n];
        var d = new float[nb];
        var ds = new float[nb];
        if (q8_1) ActivationQuantizer.QuantizeQ8_1(x, q, d, ds);
        else ActivationQuantizer.QuantizeQ8_0(x, q, d, ds);
        for (int b = 0; b < nb; b++)
        {
            double amax = 0;
            for (int j = 0; j < 32; j++) amax = Math.Max(amax, Math.Abs((double)x[b * 32 + j]));
            double dRef = amax / 127;
            // The f32 quotient is within an ulp of dRef; f16 rounding then keeps 11 bits.
            Assert.Equal((double)(Half)dRef, d[b], 1e-3 * dRef);
            Assert.Equal(d[b], (float)(Half)d[b]); // exactly an f16 value
            int sum = 0;
            for (int j = 0; j < 32; j++)
            {
                double v = x[b * 32 + j] * 127 / amax;
                double qRef = Math.Round(v, MidpointRounding.ToEven);
                int qk = q[b * 32 + j];
                sum += qk;
                Assert.InRange(qk, -127, 127);
                if (qk != qRef) Assert.True(Math.Abs(Math.Abs(v - Math.Truncate(v)) - 0.5) < TieWindow && Math.Abs(qk - qRef) == 1, $"block {b} elem {j}: {qk} vs {qRef} (x/d = {v})");
            }
            if (q8_1) Assert.Equal((double)(Half)(dRef * sum), ds[b], 1e-3 * Math.Max(1e-6, Math.Abs(dRef * sum)));
            else Assert.Equal((double)d[b] * sum, ds[b], 1e-6 * Math.Max(1, Math.Abs(d[b] * sum)));
        }
    }

    [Theory]
    [InlineData(256, 4)]
    [InlineData(256 * 5, 5)]
    [InlineData(4096, 6)]
    public void Q8_K_matches_a_float64_reference(int n, ulong seed)
    {
        var x = KernelTestData.Gaussian(n, seed, 3.0);
        x[7] = 50f; // a dominant positive value: iscale is negative, it maps to −127
        int nb = n / 256;
        var q = new sbyte[n];
        var d = new float[nb];
        var sums = new short[nb * 16];
        ActivationQuantizer.QuantizeQ8_K(x, q, d, sums);
        for (int b = 0; b < nb; b++)
        {
            double amax = 0, max = 0;
            for (int j = 0; j < 256; j++)
            {
                double v = x[b * 256 + j];
                if (Math.Abs(v) > amax) { amax = Math.Abs(v); max = v; }
            }
            double iscale = -127 / max;
            Assert.InRange(Math.Abs(d[b] - 1 / iscale), 0, ScaleRelTol * Math.Abs(1 / iscale));
            for (int s = 0; s < 16; s++)
            {
                int sum = 0;
                for (int j = 16 * s; j < 16 * s + 16; j++)
                {
                    double v = iscale * x[b * 256 + j];
                    double qRef = Math.Min(127, Math.Round(v, MidpointRounding.ToEven));
                    int qk = q[b * 256 + j];
                    sum += qk;
                    if (qk != qRef) Assert.True(Math.Abs(Math.Abs(v - Math.Truncate(v)) - 0.5) < TieWindow && Math.Abs(qk - qRef) == 1, $"block {b} elem {j}: {qk} vs {qRef}");
                }
                Assert.Equal(sum, sums[b * 16 + s]);
            }
            if (b == 0) Assert.Equal(-127, q[7]);
        }
    }

    [Fact]
    public void An_all_zero_block_quantizes_to_zero_scale_and_values()
    {
        var x = new float[512];
        x[300] = 1f;
        var q = new sbyte[512];
        var d = new float[2];
        var sums = new short[32];
        ActivationQuantizer.QuantizeQ8_K(x, q, d, sums);
        Assert.Equal(0f, d[0]);
        Assert.All(q[..256], v => Assert.Equal(0, v));
        Assert.Equal(-127, q[300]);
    }
}
