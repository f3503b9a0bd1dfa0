using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Quantization;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Kernels;

/// <summary>Random weights and activations (never zero) and the float64 reference product.</summary>
internal static class KernelTestData
{
    public static readonly GgmlType[] Types =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K,
         GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q5_K, GgmlType.IQ4_XS];

    public static readonly KernelPath[] Paths = [KernelPath.Avx512, KernelPath.Avx2, KernelPath.Portable];

    /// <summary>Gaussian values, nudged away from 0 so no input is exactly zero.</summary>
    public static float[] Gaussian(int n, ulong seed, double scale = 1.0)
    {
        var rng = new DeterministicRandom(seed);
        var v = new float[n];
        for (int i = 0; i < n; i++)
        {
            double g = rng.NextGaussian() * scale;
            if (Math.Abs(g) < 1e-3 * scale) g = g < 0 ? -1e-3 * scale : 1e-3 * scale;
            v[i] = (float)g;
        }
        return v;
    }

    /// <summary>A weight of the given type from random floats, and its dequantized values (the ground truth).</summary>
    public static (WeightMatrix W, float[] Dequantized) Weight(GgmlType type, int rows, int cols, ulong seed)
    {
        var f = Gaussian(rows * cols, seed, 0.05);
        int rb = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[rows * rb];
        var deq = new float[rows * cols];
        if (!ReferenceQuantizer.CanQuantize(type)) RandomBlocks.Fill(type, bytes, seed);
        for (int r = 0; r < rows; r++)
        {
            if (ReferenceQuantizer.CanQuantize(type)) ReferenceQuantizer.Quantize(type, f.AsSpan(r * cols, cols), bytes.AsSpan(r * rb, rb));
            ReferenceQuantizer.Dequantize(type, bytes.AsSpan(r * rb, rb), deq.AsSpan(r * cols, cols));
        }
        return (new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes)), deq);
    }

    /// <summary>
    /// The activations the kernels effectively multiply with, in float64: x itself for float weights,
    /// d·q of the prepared int8 blocks for quantized weights (the quantizer is tested on its own).
    /// </summary>
    public static double[] EffectiveActivations(PreparedActivations act, float[] x, int tokens, int cols)
    {
        var r = new double[tokens * cols];
        if (act.Kind == ActivationKind.Float)
        {
            // BF16 weights multiply activations rounded to BF16, as ggml does.
            bool bf16 = act.WeightType == GgmlType.BF16;
            for (int i = 0; i < r.Length; i++) r[i] = bf16 ? NearestBFloat16(x[i]) : x[i];
            return r;
        }
        int bs = act.Kind == ActivationKind.Q8_K ? 256 : 32;
        for (int t = 0; t < tokens; t++)
            for (int i = 0; i < cols; i++)
                r[t * cols + i] = (double)act.Scales[t * act.ScaleStride + i / bs] * act.QuantAt(t, i);
        return r;
    }

    /// <summary>
    /// The bfloat16 nearest to <paramref name="v"/> (ties to the even one), found by comparing the two
    /// neighbours in float64 rather than with the bit trick the product uses.
    /// </summary>
    public static double NearestBFloat16(float v)
    {
        uint bits = BitConverter.SingleToUInt32Bits(v) & 0xFFFF0000u;
        double below = BitConverter.UInt32BitsToSingle(bits), above = BitConverter.UInt32BitsToSingle(bits + 0x10000u);
        double dBelow = Math.Abs(v - below), dAbove = Math.Abs(above - v);
        if (dBelow != dAbove) return dBelow < dAbove ? below : above;
        return ((bits >> 16) & 1) == 0 ? below : above;
    }

    /// <summary>y[t, r] = Σ w[r, i]·x[t, i] in float64, and Σ |w·x| (the scale errors are measured against).</summary>
    public static (double[] Y, double[] Magnitude) Reference(float[] w, double[] x, int rows, int cols, int tokens)
    {
        var y = new double[tokens * rows];
        var m = new double[tokens * rows];
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                double s = 0, a = 0;
                for (int i = 0; i < cols; i++)
                {
                    double p = w[r * cols + i] * x[t * cols + i];
                    s += p;
                    a += Math.Abs(p);
                }
                y[t * rows + r] = s;
                m[t * rows + r] = a;
            }
        return (y, m);
    }

    /// <summary>
    /// For weights with a min (Q4_1, Q5_1) ggml multiplies m by the activations' f16 s = f16(d·Σq), not by
    /// d·Σq: Σ_b m_b·(s_b − d_b·Σq_b), the part of the kernel's result that d·q activations do not explain.
    /// </summary>
    public static void AddMinRounding(GgmlType type, WeightMatrix w, PreparedActivations act, double[] yRef, int rows, int cols, int tokens)
    {
        if (type is not (GgmlType.Q4_1 or GgmlType.Q5_1)) return;
        int bb = GgmlTypeInfo.BlockBytes(type), nb = cols / 32;
        var bytes = w.RowSpan(0, rows);
        for (int t = 0; t < tokens; t++)
            for (int b = 0; b < nb; b++)
            {
                long sum = 0;
                for (int j = 0; j < 32; j++) sum += act.QuantAt(t, 32 * b + j);
                double explained = (double)act.Scales[t * act.ScaleStride + b] * sum;
                double diff = act.ScaledSums[t * act.ScaleStride + b] - explained;
                for (int r = 0; r < rows; r++)
                    yRef[t * rows + r] += (double)BitConverter.ToHalf(bytes.Slice(r * w.RowBytes + b * bb + 2, 2)) * diff;
            }
    }

    public static bool Skip(KernelPath path) => !KernelDispatch.IsSupported(path);
}
