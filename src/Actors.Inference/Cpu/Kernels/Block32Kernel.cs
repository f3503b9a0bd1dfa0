using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Weights in 32-value blocks (Q4_1, Q5_0, Q5_1, IQ4_NL) against Q8_0 / Q8_1 activations, summed in
/// the float order llama.cpp's AVX-512 build uses, so outputs carry its bits (and the next layer's
/// activations round to the same int8 values): per block eight exact int32 lanes (vpmaddubsw with
/// the weights' signs moved onto the activations, then vpmaddwd).
/// <list type="bullet">
/// <item>Q4_1, Q5_0, Q5_1 (vec_dot / tinyBLAS): acc = fma(f32(lanes), d_w·d_x, acc) in one 8-lane
/// accumulator over the blocks in order, then ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)); blocks with a
/// min add m_w·s_x (s_x the activations' f16 d·Σq) into a scalar FMA chain (the C compiler contracts
/// ggml's summs += m·s), added last.</item>
/// <item>IQ4_NL (repacked 8×8 gemv): acc = fma(f32(Σ lanes), d_w·d_x, acc), one scalar per block in order.</item>
/// </list>
/// Each block is decoded once per tile of tokens; a tile keeps the same chain per token, so every
/// token sees the single-token sequence. The Portable path keeps its own (even/odd) order.
/// </summary>
internal readonly struct Block32Kernel<T> : IRowKernel where T : struct, IBlock32Decoder
{
    public static int Tile(KernelPath path) => 4;

    public static int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride) => 0;

    public static bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        y0 = y1 = 0;
        return false;
    }

    public static float Dot1(KernelPath path, ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref float sx = ref ScaledSums(a, t);
        int nb = a.Blocks;
        if (path == KernelPath.Portable)
        {
            float s0 = 0, s1 = 0, m = 0;
            for (int b = 0; b < nb; b++)
            {
                ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
                T.Decode(ref blk, out var lo, out var hi);
                float d = Half(ref blk) * Unsafe.Add(ref dx, b);
                if ((b & 1) == 0) s0 = Step128(s0, lo, hi, d, ref x, b);
                else s1 = Step128(s1, lo, hi, d, ref x, b);
                if (T.HasMin) m += T.Min(ref blk) * Unsafe.Add(ref sx, b);
            }
            return s0 + s1 + m;
        }
        Vector256<float> acc = default;
        float serial = 0, mins = 0;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
            T.Decode(ref blk, out var lo, out var hi);
            var w = Vector256.Create(lo, hi);
            float d = Half(ref blk) * Unsafe.Add(ref dx, b);
            var p = IntDot(Avx2.Abs(w), w, ref x, b);
            if (T.SumsPerBlock) serial = MathF.FusedMultiplyAdd(Vector256.Sum(p), d, serial);
            else acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), Vector256.Create(d), acc);
            if (T.HasMin) mins = MathF.FusedMultiplyAdd(T.Min(ref blk), Unsafe.Add(ref sx, b), mins);
        }
        return T.SumsPerBlock ? serial : VectorMath.HSum(acc) + mins;
    }

    public static void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        if (path == KernelPath.Portable)
        {
            for (int k = 0; k < 4; k++) Unsafe.Add(ref y, k * ys) = Dot1(path, ref row, a, t0 + k);
            return;
        }
        int n = a.Cols, ss = a.ScaleStride, nb = a.Blocks;
        ref sbyte x0 = ref Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, n);
        ref sbyte x2 = ref Unsafe.Add(ref x1, n);
        ref sbyte x3 = ref Unsafe.Add(ref x2, n);
        ref float d0 = ref Scales(a, t0);
        ref float e0 = ref ScaledSums(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0, m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
            T.Decode(ref blk, out var lo, out var hi);
            var w = Vector256.Create(lo, hi);
            var aw = Avx2.Abs(w);
            float dw = Half(ref blk);
            float f0 = dw * Unsafe.Add(ref d0, b), f1 = dw * Unsafe.Add(ref d0, ss + b);
            float f2 = dw * Unsafe.Add(ref d0, 2 * ss + b), f3 = dw * Unsafe.Add(ref d0, 3 * ss + b);
            var p0 = IntDot(aw, w, ref x0, b);
            var p1 = IntDot(aw, w, ref x1, b);
            var p2 = IntDot(aw, w, ref x2, b);
            var p3 = IntDot(aw, w, ref x3, b);
            if (T.SumsPerBlock)
            {
                s0 = MathF.FusedMultiplyAdd(Vector256.Sum(p0), f0, s0);
                s1 = MathF.FusedMultiplyAdd(Vector256.Sum(p1), f1, s1);
                s2 = MathF.FusedMultiplyAdd(Vector256.Sum(p2), f2, s2);
                s3 = MathF.FusedMultiplyAdd(Vector256.Sum(p3), f3, s3);
            }
            else
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p0), Vector256.Create(f0), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p1), Vector256.Create(f1), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p2), Vector256.Create(f2), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p3), Vector256.Create(f3), a3);
            }
            if (T.HasMin)
            {
                float mw = T.Min(ref blk);
                m0 = MathF.FusedMultiplyAdd(mw, Unsafe.Add(ref e0, b), m0);
                m1 = MathF.FusedMultiplyAdd(mw, Unsafe.Add(ref e0, ss + b), m1);
                m2 = MathF.FusedMultiplyAdd(mw, Unsafe.Add(ref e0, 2 * ss + b), m2);
                m3 = MathF.FusedMultiplyAdd(mw, Unsafe.Add(ref e0, 3 * ss + b), m3);
            }
        }
        if (T.SumsPerBlock)
        {
            y = s0;
            Unsafe.Add(ref y, ys) = s1;
            Unsafe.Add(ref y, 2 * ys) = s2;
            Unsafe.Add(ref y, 3 * ys) = s3;
            return;
        }
        y = VectorMath.HSum(a0) + m0;
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1) + m1;
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2) + m2;
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3) + m3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Step128(float acc, Vector128<sbyte> lo, Vector128<sbyte> hi, float d, ref sbyte x, int b)
    {
        int isum = Vector128.Sum(DotI8(lo, Load128(ref x, 32 * b)) + DotI8(hi, Load128(ref x, 32 * b + 16)));
        return MathF.FusedMultiplyAdd(d, isum, acc);
    }

    /// <summary>Eight int32 lanes, lane k = Σ of products 4k..4k+3 of the block (vpmaddubsw, vpmaddwd), as ggml's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> IntDot(Vector256<byte> absW, Vector256<sbyte> w, ref sbyte x, int b) =>
        DotU8S8(absW, Avx2.Sign(Vector256.LoadUnsafe(ref x, (nuint)(32 * b)), w));
}
