using System.Numerics.Tensors;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>Interim scalar matmul: dequantise a row, dot with each token (replaced by the SIMD kernels).</summary>
public static class MatMul
{
    public static void Prepare(GgmlType weightType, ReadOnlySpan<float> x, int tokens, int cols, PreparedActivations act)
    {
        act.EnsureCapacity(tokens, cols);
        x[..(tokens * cols)].CopyTo(act.Values);
        var v = act.Values.AsSpan(0, tokens * cols);
        if (weightType == GgmlType.BF16)
            for (int i = 0; i < v.Length; i++) v[i] = Quantization.BFloat16.ToSingle(Quantization.BFloat16.FromSingle(v[i]));
        if (weightType is GgmlType.Q4_K or GgmlType.Q6_K)
            for (int b = 0; b < v.Length / 256; b++)
            {
                var blk = v.Slice(b * 256, 256);
                float amax = 0, max = 0;
                foreach (var f in blk) if (MathF.Abs(f) > amax) { amax = MathF.Abs(f); max = f; }
                if (amax == 0) continue;
                float iscale = -127f / max;
                for (int i = 0; i < 256; i++) blk[i] = MathF.Min(127, MathF.Round(iscale * blk[i])) / iscale;
            }
        if (weightType is GgmlType.Q8_0 or GgmlType.Q4_0)
            for (int b = 0; b < v.Length / 32; b++)
            {
                var blk = v.Slice(b * 32, 32);
                float amax = 0;
                foreach (var f in blk) amax = MathF.Max(amax, MathF.Abs(f));
                if (amax == 0) continue;
                float d = (float)(Half)(amax / 127f);
                float id = 1f / (amax / 127f);
                for (int i = 0; i < 32; i++) blk[i] = MathF.Round(blk[i] * id) * d;
            }
        act.Tokens = tokens;
        act.Cols = cols;
    }

    public static void Compute(WeightMatrix w, PreparedActivations act, int tokens, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        Span<float> row = w.Cols <= 16384 ? stackalloc float[w.Cols] : new float[w.Cols];
        for (int r = rowStart; r < rowEnd; r++)
        {
            w.DequantizeRow(r, row);
            for (int t = 0; t < tokens; t++)
                y[t * yStride + r] = TensorPrimitives.Dot(row, act.Values.AsSpan(t * w.Cols, w.Cols));
        }
    }
}
