using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// y = (x · 1/sqrt(mean(x²) + eps)) · w as ggml's rms_norm: each square rounded to f32, then summed in
/// double, so the scale (and every activation quantized after it) has the same bits as llama.cpp's.
/// </summary>
public static class RmsNorm
{
    public static void Apply(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> y)
    {
        double sum = SumOfSquares(x);
        float scale = 1.0f / MathF.Sqrt((float)(sum / x.Length) + eps);
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>Σ f32(x²) in double, vectorised in a fixed order (the result depends only on x).</summary>
    public static double SumOfSquares(ReadOnlySpan<float> x)
    {
        int i = 0;
        double sum = 0;
        if (Vector256.IsHardwareAccelerated && x.Length >= 8)
        {
            var acc0 = Vector256<double>.Zero;
            var acc1 = Vector256<double>.Zero;
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8));
                var (lo, hi) = Vector256.Widen(v * v);
                acc0 += lo;
                acc1 += hi;
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < x.Length; i++) sum += x[i] * x[i];
        return sum;
    }
}
