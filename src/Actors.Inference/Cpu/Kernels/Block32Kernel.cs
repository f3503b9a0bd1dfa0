using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Weights in 32-value blocks (Q4_1, Q5_0, Q5_1, IQ4_NL) against Q8_0 / Q8_1 activations, the way
/// ggml's vec_dot does it: per block an exact integer Σq·x (vpmaddubsw with the weights' signs moved
/// onto the activations, then vpmaddwd), times d_w·d_x, accumulated in f32; blocks with a min add
/// m_w·s_x, where s_x is the activations' f16 d·Σq. Each block is decoded once per tile of tokens.
/// Even and odd blocks go to two accumulators (one FMA chain would wait on its latency every block);
/// a tile keeps the same two per token, so every token sees the single-token sequence.
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
        Vector256<float> acc0 = default, acc1 = default;
        float mins = 0;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
            T.Decode(ref blk, out var lo, out var hi);
            var w = Vector256.Create(lo, hi);
            var d = Vector256.Create(Half(ref blk) * Unsafe.Add(ref dx, b));
            if ((b & 1) == 0) acc0 = Step256(acc0, Avx2.Abs(w), w, d, ref x, b);
            else acc1 = Step256(acc1, Avx2.Abs(w), w, d, ref x, b);
            if (T.HasMin) mins += T.Min(ref blk) * Unsafe.Add(ref sx, b);
        }
        return VectorMath.HSum(acc0 + acc1) + mins;
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
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        float m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
            T.Decode(ref blk, out var lo, out var hi);
            var w = Vector256.Create(lo, hi);
            var aw = Avx2.Abs(w);
            float dw = Half(ref blk);
            var s0 = Vector256.Create(dw * Unsafe.Add(ref d0, b));
            var s1 = Vector256.Create(dw * Unsafe.Add(ref d0, ss + b));
            var s2 = Vector256.Create(dw * Unsafe.Add(ref d0, 2 * ss + b));
            var s3 = Vector256.Create(dw * Unsafe.Add(ref d0, 3 * ss + b));
            if ((b & 1) == 0)
            {
                a0 = Step256(a0, aw, w, s0, ref x0, b);
                a1 = Step256(a1, aw, w, s1, ref x1, b);
                a2 = Step256(a2, aw, w, s2, ref x2, b);
                a3 = Step256(a3, aw, w, s3, ref x3, b);
            }
            else
            {
                b0 = Step256(b0, aw, w, s0, ref x0, b);
                b1 = Step256(b1, aw, w, s1, ref x1, b);
                b2 = Step256(b2, aw, w, s2, ref x2, b);
                b3 = Step256(b3, aw, w, s3, ref x3, b);
            }
            if (T.HasMin)
            {
                float mw = T.Min(ref blk);
                m0 += mw * Unsafe.Add(ref e0, b);
                m1 += mw * Unsafe.Add(ref e0, ss + b);
                m2 += mw * Unsafe.Add(ref e0, 2 * ss + b);
                m3 += mw * Unsafe.Add(ref e0, 3 * ss + b);
            }
        }
        y = VectorMath.HSum(a0 + b0) + m0;
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1 + b1) + m1;
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2 + b2) + m2;
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3 + b3) + m3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Step128(float acc, Vector128<sbyte> lo, Vector128<sbyte> hi, float d, ref sbyte x, int b)
    {
        int isum = Vector128.Sum(DotI8(lo, Load128(ref x, 32 * b)) + DotI8(hi, Load128(ref x, 32 * b + 16)));
        return MathF.FusedMultiplyAdd(d, isum, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step256(Vector256<float> acc, Vector256<byte> absW, Vector256<sbyte> w, Vector256<float> d, ref sbyte x, int b)
    {
        var p = DotU8S8(absW, Avx2.Sign(Vector256.LoadUnsafe(ref x, (nuint)(32 * b)), w));
        return Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), d, acc);
    }
}
