using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// Float sums in the exact order llama.cpp's AVX-512 CPU build (LLamaSharp.Backend.Cpu 0.30, read
/// from its machine code) performs them, so attention computed with them has llama.cpp's bits:
/// <list type="bullet">
/// <item><see cref="Reduce16"/>: _mm512_reduce_add_ps, a fixed tree over 16 lanes
/// (l[i] + l[i+8], then + [i+4], then [0]+[2] and [1]+[3], then those two).</item>
/// <item><see cref="DotF32"/>: ggml_vec_dot_f32: four 16-lane FMA accumulators over each 64 values,
/// (a0 + a2) + (a1 + a3), the tree; then the tail added in element order as rounded products
/// (16 and 8 at a time) and, for its last &lt; 8 values, as scalar FMAs.</item>
/// </list>
/// Every step is one IEEE operation, so the 512-bit form and the per-lane scalar form give the same
/// bits; <see cref="Vector512.IsHardwareAccelerated"/> only picks the faster one.
/// </summary>
public static class GgmlSums
{
    /// <summary>Whether the 512-bit forms run (tests turn it off to check the scalar forms give the same bits).</summary>
    internal static bool UseVector512 { get; set; } = Vector512.IsHardwareAccelerated;

    /// <summary>_mm512_reduce_add_ps's tree over the 16 lanes of <paramref name="v"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Reduce16(Vector512<float> v)
    {
        var a = v.GetLower() + v.GetUpper();            // l[i] + l[i+8]
        var b = a.GetLower() + a.GetUpper();            // + [i+4]
        return (b.GetElement(0) + b.GetElement(2)) + (b.GetElement(1) + b.GetElement(3));
    }

    /// <summary>The same tree over 16 values in memory.</summary>
    public static float Reduce16(ReadOnlySpan<float> l)
    {
        Span<float> b = stackalloc float[4];
        for (int i = 0; i < 4; i++) b[i] = (l[i] + l[i + 8]) + (l[i + 4] + l[i + 12]);
        return (b[0] + b[2]) + (b[1] + b[3]);
    }

    /// <summary>Σ x[i]·y[i] as ggml_vec_dot_f32 sums it.</summary>
    public static float DotF32(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        int n = x.Length;
        if (y.Length < n) throw new ArgumentException($"y holds {y.Length} values, x {n}");
        int blocks = n & ~63;
        float sum = blocks > 0 ? (UseVector512 ? Blocks512(x, y, blocks) : BlocksScalar(x, y, blocks)) : 0f;
        int i = blocks;
        // The tail: what GCC made of `sumf += x[i]*y[i]`: 16 and then 8 products at a time, each added in
        // order; the last < 8 as scalar FMAs.
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) sum += x[i + k] * y[i + k];
        if (n - i >= 8)
        {
            for (int k = 0; k < 8; k++) sum += x[i + k] * y[i + k];
            i += 8;
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(x[i], y[i], sum);
        return sum;
    }

    private static float Blocks512(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int blocks)
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        var a2 = Vector512<float>.Zero;
        var a3 = Vector512<float>.Zero;
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref float yr = ref MemoryMarshal.GetReference(y);
        for (nuint i = 0; i < (nuint)blocks; i += 64) // blocks ≤ both lengths (checked by the caller)
        {
            a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, i), Vector512.LoadUnsafe(ref yr, i), a0);
            a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, i + 16), Vector512.LoadUnsafe(ref yr, i + 16), a1);
            a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, i + 32), Vector512.LoadUnsafe(ref yr, i + 32), a2);
            a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref xr, i + 48), Vector512.LoadUnsafe(ref yr, i + 48), a3);
        }
        return Reduce16((a0 + a2) + (a1 + a3));
    }

    private static float BlocksScalar(ReadOnlySpan<float> x, ReadOnlySpan<float> y, int blocks)
    {
        Span<float> acc = stackalloc float[64];
        acc.Clear();
        for (int i = 0; i < blocks; i += 64)
            for (int k = 0; k < 64; k++) acc[k] = MathF.FusedMultiplyAdd(x[i + k], y[i + k], acc[k]);
        Span<float> lanes = stackalloc float[16];
        for (int k = 0; k < 16; k++) lanes[k] = (acc[k] + acc[k + 32]) + (acc[k + 16] + acc[k + 48]);
        return Reduce16(lanes);
    }
}
