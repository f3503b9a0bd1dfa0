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
        var acc = new Acc();
        if (path == KernelPath.Portable)
            for (int b = 0; b < a.Blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
                T.Decode(ref blk, out var lo, out var hi);
                Step128(ref acc, lo, hi, Half(ref blk), T.HasMin ? T.Min(ref blk) : 0, a, t, b);
            }
        else
            for (int b = 0; b < a.Blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
                T.Decode(ref blk, out var lo, out var hi);
                var w = Vector256.Create(lo, hi);
                Step256(ref acc, Avx2.Abs(w), w, Half(ref blk), T.HasMin ? T.Min(ref blk) : 0, a, t, b);
            }
        return acc.Result;
    }

    public static void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        Acc a0 = new(), a1 = new(), a2 = new(), a3 = new();
        if (path == KernelPath.Portable)
            for (int b = 0; b < a.Blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
                T.Decode(ref blk, out var lo, out var hi);
                float d = Half(ref blk), m = T.HasMin ? T.Min(ref blk) : 0;
                Step128(ref a0, lo, hi, d, m, a, t0, b);
                Step128(ref a1, lo, hi, d, m, a, t0 + 1, b);
                Step128(ref a2, lo, hi, d, m, a, t0 + 2, b);
                Step128(ref a3, lo, hi, d, m, a, t0 + 3, b);
            }
        else
            for (int b = 0; b < a.Blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref row, b * T.BlockBytes);
                T.Decode(ref blk, out var lo, out var hi);
                var w = Vector256.Create(lo, hi);
                var aw = Avx2.Abs(w);
                float d = Half(ref blk), m = T.HasMin ? T.Min(ref blk) : 0;
                Step256(ref a0, aw, w, d, m, a, t0, b);
                Step256(ref a1, aw, w, d, m, a, t0 + 1, b);
                Step256(ref a2, aw, w, d, m, a, t0 + 2, b);
                Step256(ref a3, aw, w, d, m, a, t0 + 3, b);
            }
        y = a0.Result;
        Unsafe.Add(ref y, ys) = a1.Result;
        Unsafe.Add(ref y, 2 * ys) = a2.Result;
        Unsafe.Add(ref y, 3 * ys) = a3.Result;
    }

    /// <summary>One token's running sums: the scaled integer products (per lane or scalar) and Σ m·s.</summary>
    private struct Acc
    {
        public Vector256<float> V;
        public float S;
        public float Mins;
        public readonly float Result => VectorMath.HSum(V) + S + Mins;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step128(ref Acc acc, Vector128<sbyte> lo, Vector128<sbyte> hi, float dw, float mw, PreparedActivations a, int t, int b)
    {
        ref sbyte x = ref Quants(a, t);
        int isum = Vector128.Sum(DotI8(lo, Load128(ref x, 32 * b)) + DotI8(hi, Load128(ref x, 32 * b + 16)));
        acc.S = MathF.FusedMultiplyAdd(dw * Unsafe.Add(ref Scales(a, t), b), isum, acc.S);
        if (T.HasMin) acc.Mins += mw * Unsafe.Add(ref ScaledSums(a, t), b);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step256(ref Acc acc, Vector256<byte> absW, Vector256<sbyte> w, float dw, float mw, PreparedActivations a, int t, int b)
    {
        var x = Vector256.LoadUnsafe(ref Quants(a, t), (nuint)(32 * b));
        var p = DotU8S8(absW, Avx2.Sign(x, w));
        acc.V = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(p), Vector256.Create(dw * Unsafe.Add(ref Scales(a, t), b)), acc.V);
        if (T.HasMin) acc.Mins += mw * Unsafe.Add(ref ScaledSums(a, t), b);
    }
}
