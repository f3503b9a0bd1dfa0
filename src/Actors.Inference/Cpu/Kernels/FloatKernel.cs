using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// F32/F16/BF16 weights against f32 activations: convert 16 (8, 4) weights to f32 and FMA. Each
/// (row, token) pair always runs the same sequence: the path's accumulators over full chunks, one
/// accumulator over full vectors, the fixed horizontal sum, then the scalar tail in element order.
/// </summary>
internal readonly partial struct FloatKernel<TW> : IRowKernel where TW : struct, IFloatWeights
{
    public static int Tile(KernelPath path) => path switch { KernelPath.Avx512 => 6, KernelPath.Avx2 => 3, _ => 1 };

    public static float Dot1(KernelPath path, ref byte row, PreparedActivations a, int t)
    {
        ref float x = ref Unsafe.Add(ref a.Floats.Ref, (nint)t * a.Cols);
        return path switch
        {
            KernelPath.Avx512 => Dot512(ref row, ref x, (nuint)a.Cols),
            KernelPath.Avx2 => Dot256(ref row, ref x, (nuint)a.Cols),
            _ => Dot128(ref row, ref x, (nuint)a.Cols),
        };
    }

    public static bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        if (path != KernelPath.Avx512)
        {
            y0 = y1 = 0;
            return false;
        }
        Dot512x2(ref row0, ref row1, ref Unsafe.Add(ref a.Floats.Ref, (nint)t * a.Cols), (nuint)a.Cols, out y0, out y1);
        return true;
    }

    public static void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint yStride)
    {
        ref float x = ref Unsafe.Add(ref a.Floats.Ref, (nint)t0 * a.Cols);
        if (path == KernelPath.Avx512) Tile512(ref row, ref x, (nuint)a.Cols, ref y, yStride);
        else if (path == KernelPath.Avx2) Tile256(ref row, ref x, (nuint)a.Cols, ref y, yStride);
        else y = Dot128(ref row, ref x, (nuint)a.Cols);
    }

    /// <summary>max(|a|, |b|) with the sign cleared (vrangeps), to track the largest weight magnitude.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> MaxAbs(Vector512<float> a, Vector512<float> b) => Avx512DQ.Range(a, b, 0b1011);

    /// <summary>
    /// Whether the fast loads met inf/NaN (only they produce |w| ≥ 65536). Depends only on the row's
    /// bytes, so a (row, token) pair always takes the same route whatever the batch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SawNonFinite(Vector512<float> maxAbs) => TW.FastLoad512 && !Vector512.LessThanAll(maxAbs, Vector512.Create(65536f));

    /// <summary>AVX2 form: max of the sign-cleared bit patterns (non-negative floats order as integers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MaxAbsBits(Vector256<int> big, Vector256<float> w) =>
        Vector256.Max(big, w.AsInt32() & Vector256.Create(0x7FFFFFFF));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool SawNonFinite(Vector256<int> maxAbsBits) =>
        TW.FastLoad512 && Vector256.GreaterThanOrEqualAny(maxAbsBits, Vector256.Create(0x47800000)); // 65536f

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> F(Vector512<float> w, ref float x, nuint i, Vector512<float> acc) =>
        Vector512.FusedMultiplyAdd(w, Vector512.LoadUnsafe(ref x, i), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> F(Vector256<float> w, ref float x, nuint i, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(w, Vector256.LoadUnsafe(ref x, i), acc);

    private static float Tail(float s, ref byte row, ref float x, nuint i, nuint n)
    {
        for (; i < n; i++) s = MathF.FusedMultiplyAdd(TW.Load1(ref row, i), Unsafe.Add(ref x, i), s);
        return s;
    }

    // ---- AVX-512: four accumulators over 64 values, then one over 16; tiles of 6 tokens ----
    // Four FMA chains keep the single-token loop off the FMA latency; 6 tokens × 4 accumulators plus
    // 4 weight vectors is the most the 32 zmm registers hold, so each converted weight feeds 6 FMAs.

    internal static float Dot512(ref byte row, ref float x, nuint n)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, big = default;
        nuint i = 0;
        for (; i + 64 <= n; i += 64)
        {
            var w0 = TW.Load512(ref row, i);
            var w1 = TW.Load512(ref row, i + 16);
            var w2 = TW.Load512(ref row, i + 32);
            var w3 = TW.Load512(ref row, i + 48);
            if (TW.FastLoad512) big = MaxAbs(big, MaxAbs(MaxAbs(w0, w1), MaxAbs(w2, w3)));
            a0 = F(w0, ref x, i, a0);
            a1 = F(w1, ref x, i + 16, a1);
            a2 = F(w2, ref x, i + 32, a2);
            a3 = F(w3, ref x, i + 48, a3);
        }
        for (; i + 16 <= n; i += 16)
        {
            var w = TW.Load512(ref row, i);
            if (TW.FastLoad512) big = MaxAbs(big, w);
            a0 = F(w, ref x, i, a0);
        }
        if (SawNonFinite(big)) return FloatKernel<F16ExactWeights>.Dot512(ref row, ref x, n);
        return Tail(VectorMath.HSum((a0 + a1) + (a2 + a3)), ref row, ref x, i, n);
    }

    /// <summary>Two rows of <see cref="Dot512"/> interleaved: two DRAM streams in flight, each row's sequence unchanged.</summary>
    internal static void Dot512x2(ref byte r0, ref byte r1, ref float x, nuint n, out float y0, out float y1)
    {
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, big = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, bigB = default;
        nuint i = 0;
        for (; i + 64 <= n; i += 64)
        {
            var w0 = TW.Load512(ref r0, i);
            var w1 = TW.Load512(ref r0, i + 16);
            var w2 = TW.Load512(ref r0, i + 32);
            var w3 = TW.Load512(ref r0, i + 48);
            var v0 = TW.Load512(ref r1, i);
            var v1 = TW.Load512(ref r1, i + 16);
            var v2 = TW.Load512(ref r1, i + 32);
            var v3 = TW.Load512(ref r1, i + 48);
            if (TW.FastLoad512)
            {
                big = MaxAbs(big, MaxAbs(MaxAbs(w0, w1), MaxAbs(w2, w3)));
                bigB = MaxAbs(bigB, MaxAbs(MaxAbs(v0, v1), MaxAbs(v2, v3)));
            }
            var x0 = Vector512.LoadUnsafe(ref x, i);
            var x1 = Vector512.LoadUnsafe(ref x, i + 16);
            var x2 = Vector512.LoadUnsafe(ref x, i + 32);
            var x3 = Vector512.LoadUnsafe(ref x, i + 48);
            a0 = Vector512.FusedMultiplyAdd(w0, x0, a0); b0 = Vector512.FusedMultiplyAdd(v0, x0, b0);
            a1 = Vector512.FusedMultiplyAdd(w1, x1, a1); b1 = Vector512.FusedMultiplyAdd(v1, x1, b1);
            a2 = Vector512.FusedMultiplyAdd(w2, x2, a2); b2 = Vector512.FusedMultiplyAdd(v2, x2, b2);
            a3 = Vector512.FusedMultiplyAdd(w3, x3, a3); b3 = Vector512.FusedMultiplyAdd(v3, x3, b3);
        }
        for (; i + 16 <= n; i += 16)
        {
            var w = TW.Load512(ref r0, i);
            var v = TW.Load512(ref r1, i);
            if (TW.FastLoad512)
            {
                big = MaxAbs(big, w);
                bigB = MaxAbs(bigB, v);
            }
            var xv = Vector512.LoadUnsafe(ref x, i);
            a0 = Vector512.FusedMultiplyAdd(w, xv, a0);
            b0 = Vector512.FusedMultiplyAdd(v, xv, b0);
        }
        y0 = SawNonFinite(big) ? FloatKernel<F16ExactWeights>.Dot512(ref r0, ref x, n) : Tail(VectorMath.HSum((a0 + a1) + (a2 + a3)), ref r0, ref x, i, n);
        y1 = SawNonFinite(bigB) ? FloatKernel<F16ExactWeights>.Dot512(ref r1, ref x, n) : Tail(VectorMath.HSum((b0 + b1) + (b2 + b3)), ref r1, ref x, i, n);
    }

    internal static void Tile512(ref byte row, ref float x0, nuint n, ref float y, nint ys)
    {
        ref float x1 = ref Unsafe.Add(ref x0, n);
        ref float x2 = ref Unsafe.Add(ref x1, n);
        ref float x3 = ref Unsafe.Add(ref x2, n);
        ref float x4 = ref Unsafe.Add(ref x3, n);
        ref float x5 = ref Unsafe.Add(ref x4, n);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
        Vector512<float> a40 = default, a41 = default, a42 = default, a43 = default;
        Vector512<float> a50 = default, a51 = default, a52 = default, a53 = default;
        Vector512<float> big = default;
        nuint i = 0;
        for (; i + 64 <= n; i += 64)
        {
            var w0 = TW.Load512(ref row, i);
            var w1 = TW.Load512(ref row, i + 16);
            var w2 = TW.Load512(ref row, i + 32);
            var w3 = TW.Load512(ref row, i + 48);
            if (TW.FastLoad512) big = MaxAbs(big, MaxAbs(MaxAbs(w0, w1), MaxAbs(w2, w3)));
            a00 = F(w0, ref x0, i, a00); a01 = F(w1, ref x0, i + 16, a01); a02 = F(w2, ref x0, i + 32, a02); a03 = F(w3, ref x0, i + 48, a03);
            a10 = F(w0, ref x1, i, a10); a11 = F(w1, ref x1, i + 16, a11); a12 = F(w2, ref x1, i + 32, a12); a13 = F(w3, ref x1, i + 48, a13);
            a20 = F(w0, ref x2, i, a20); a21 = F(w1, ref x2, i + 16, a21); a22 = F(w2, ref x2, i + 32, a22); a23 = F(w3, ref x2, i + 48, a23);
            a30 = F(w0, ref x3, i, a30); a31 = F(w1, ref x3, i + 16, a31); a32 = F(w2, ref x3, i + 32, a32); a33 = F(w3, ref x3, i + 48, a33);
            a40 = F(w0, ref x4, i, a40); a41 = F(w1, ref x4, i + 16, a41); a42 = F(w2, ref x4, i + 32, a42); a43 = F(w3, ref x4, i + 48, a43);
            a50 = F(w0, ref x5, i, a50); a51 = F(w1, ref x5, i + 16, a51); a52 = F(w2, ref x5, i + 32, a52); a53 = F(w3, ref x5, i + 48, a53);
        }
        for (; i + 16 <= n; i += 16)
        {
            var w = TW.Load512(ref row, i);
            if (TW.FastLoad512) big = MaxAbs(big, w);
            a00 = F(w, ref x0, i, a00); a10 = F(w, ref x1, i, a10); a20 = F(w, ref x2, i, a20); a30 = F(w, ref x3, i, a30); a40 = F(w, ref x4, i, a40); a50 = F(w, ref x5, i, a50);
        }
        if (SawNonFinite(big))
        {
            FloatKernel<F16ExactWeights>.Tile512(ref row, ref x0, n, ref y, ys);
            return;
        }
        y = Tail(VectorMath.HSum((a00 + a01) + (a02 + a03)), ref row, ref x0, i, n);
        Unsafe.Add(ref y, 1 * ys) = Tail(VectorMath.HSum((a10 + a11) + (a12 + a13)), ref row, ref x1, i, n);
        Unsafe.Add(ref y, 2 * ys) = Tail(VectorMath.HSum((a20 + a21) + (a22 + a23)), ref row, ref x2, i, n);
        Unsafe.Add(ref y, 3 * ys) = Tail(VectorMath.HSum((a30 + a31) + (a32 + a33)), ref row, ref x3, i, n);
        Unsafe.Add(ref y, 4 * ys) = Tail(VectorMath.HSum((a40 + a41) + (a42 + a43)), ref row, ref x4, i, n);
        Unsafe.Add(ref y, 5 * ys) = Tail(VectorMath.HSum((a50 + a51) + (a52 + a53)), ref row, ref x5, i, n);
    }

    // ---- AVX2: four accumulators over 32 values, then one over 8; tiles of 3 tokens ----
    // Four FMA chains keep the loop off the FMA latency; 3 tokens × 4 accumulators is what 16 ymm
    // registers hold when each weight vector is used right after its load.

    internal static float Dot256(ref byte row, ref float x, nuint n)
    {
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<int> big = default;
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            var w0 = TW.Load256(ref row, i);
            var w1 = TW.Load256(ref row, i + 8);
            var w2 = TW.Load256(ref row, i + 16);
            var w3 = TW.Load256(ref row, i + 24);
            if (TW.FastLoad512) big = MaxAbsBits(MaxAbsBits(MaxAbsBits(MaxAbsBits(big, w0), w1), w2), w3);
            a0 = F(w0, ref x, i, a0);
            a1 = F(w1, ref x, i + 8, a1);
            a2 = F(w2, ref x, i + 16, a2);
            a3 = F(w3, ref x, i + 24, a3);
        }
        for (; i + 8 <= n; i += 8)
        {
            var w = TW.Load256(ref row, i);
            if (TW.FastLoad512) big = MaxAbsBits(big, w);
            a0 = F(w, ref x, i, a0);
        }
        if (SawNonFinite(big)) return FloatKernel<F16ExactWeights>.Dot256(ref row, ref x, n);
        return Tail(VectorMath.HSum((a0 + a1) + (a2 + a3)), ref row, ref x, i, n);
    }

    internal static void Tile256(ref byte row, ref float x0, nuint n, ref float y, nint ys)
    {
        ref float x1 = ref Unsafe.Add(ref x0, n);
        ref float x2 = ref Unsafe.Add(ref x1, n);
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        Vector256<int> big = default;
        nuint i = 0;
        for (; i + 32 <= n; i += 32)
        {
            var w0 = TW.Load256(ref row, i + 0);
            if (TW.FastLoad512) big = MaxAbsBits(big, w0);
            a00 = F(w0, ref x0, i + 0, a00); a10 = F(w0, ref x1, i + 0, a10); a20 = F(w0, ref x2, i + 0, a20);
            var w1 = TW.Load256(ref row, i + 8);
            if (TW.FastLoad512) big = MaxAbsBits(big, w1);
            a01 = F(w1, ref x0, i + 8, a01); a11 = F(w1, ref x1, i + 8, a11); a21 = F(w1, ref x2, i + 8, a21);
            var w2 = TW.Load256(ref row, i + 16);
            if (TW.FastLoad512) big = MaxAbsBits(big, w2);
            a02 = F(w2, ref x0, i + 16, a02); a12 = F(w2, ref x1, i + 16, a12); a22 = F(w2, ref x2, i + 16, a22);
            var w3 = TW.Load256(ref row, i + 24);
            if (TW.FastLoad512) big = MaxAbsBits(big, w3);
            a03 = F(w3, ref x0, i + 24, a03); a13 = F(w3, ref x1, i + 24, a13); a23 = F(w3, ref x2, i + 24, a23);
        }
        for (; i + 8 <= n; i += 8)
        {
            var w = TW.Load256(ref row, i);
            if (TW.FastLoad512) big = MaxAbsBits(big, w);
            a00 = F(w, ref x0, i, a00); a10 = F(w, ref x1, i, a10); a20 = F(w, ref x2, i, a20);
        }
        if (SawNonFinite(big))
        {
            FloatKernel<F16ExactWeights>.Tile256(ref row, ref x0, n, ref y, ys);
            return;
        }
        y = Tail(VectorMath.HSum((a00 + a01) + (a02 + a03)), ref row, ref x0, i, n);
        Unsafe.Add(ref y, 1 * ys) = Tail(VectorMath.HSum((a10 + a11) + (a12 + a13)), ref row, ref x1, i, n);
        Unsafe.Add(ref y, 2 * ys) = Tail(VectorMath.HSum((a20 + a21) + (a22 + a23)), ref row, ref x2, i, n);
    }

    // ---- Portable: Vector128 (SSE/NEON), two accumulators over 8 values, then one over 4 ----

    private static float Dot128(ref byte row, ref float x, nuint n)
    {
        Vector128<float> a0 = default, a1 = default;
        nuint i = 0;
        for (; i + 8 <= n; i += 8)
        {
            a0 = Vector128.FusedMultiplyAdd(TW.Load128(ref row, i), Vector128.LoadUnsafe(ref x, i), a0);
            a1 = Vector128.FusedMultiplyAdd(TW.Load128(ref row, i + 4), Vector128.LoadUnsafe(ref x, i + 4), a1);
        }
        for (; i + 4 <= n; i += 4) a0 = Vector128.FusedMultiplyAdd(TW.Load128(ref row, i), Vector128.LoadUnsafe(ref x, i), a0);
        return Tail(VectorMath.HSum(a0 + a1), ref row, ref x, i, n);
    }
}
