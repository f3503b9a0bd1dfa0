using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q8_0 weights (34-byte blocks: f16 d, 32 int8) against Q8_0 activations. vpmaddubsw needs an
/// unsigned operand, so the weights' signs move onto the activations (|w|·±x, ggml's trick); pair
/// sums stay below 2·128·127 and cannot saturate.
/// </summary>
internal readonly struct Q8_0Kernel : IRowKernel
{
    private const int B = 34;

    public static int Tile(KernelPath path) => path == KernelPath.Portable ? 1 : 4;

    public static int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride) => 0;

    public static bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        y0 = y1 = 0;
        return false;
    }

    public static float Dot1(KernelPath path, ref byte row, PreparedActivations a, int t) => path switch
    {
        KernelPath.Avx512 => Dot512(ref row, a, t),
        KernelPath.Avx2 => Dot256(ref row, a, t),
        _ => Dot128(ref row, a, t),
    };

    public static void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        if (path == KernelPath.Avx512) Tile512(ref row, a, t0, ref y, ys);
        else if (path == KernelPath.Avx2) Tile256(ref row, a, t0, ref y, ys);
        else y = Dot128(ref row, a, t0);
    }

    // ---------------- Portable ----------------

    private static float Dot128(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        float s = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            int isum = Vector128.Sum(DotI8(Load128(ref blk, 2), Load128(ref x, 32 * b)) + DotI8(Load128(ref blk, 18), Load128(ref x, 32 * b + 16)));
            s = MathF.FusedMultiplyAdd(Half(ref blk) * Unsafe.Add(ref dx, b), isum, s);
        }
        return s;
    }

    // ---------------- AVX2: one block per vector ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step256(Vector256<float> acc, Vector256<byte> absW, Vector256<sbyte> w, ref sbyte x, int b, float s) =>
        Vector256.FusedMultiplyAdd(
            Vector256.ConvertToSingle(DotU8S8(absW, Avx2.Sign(Vector256.LoadUnsafe(ref x, (nuint)(32 * b)), w))),
            Vector256.Create(s), acc);

    // Two accumulators, even and odd blocks: one FMA chain per block would wait 4 cycles each.
    private static float Dot256(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        Vector256<float> acc = default, acc1 = default;
        int b = 0;
        for (; b + 1 < a.Blocks; b += 2)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            ref byte blk1 = ref Unsafe.Add(ref blk, B);
            var w = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 2)).AsSByte();
            var w1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk1, 2)).AsSByte();
            acc = Step256(acc, Avx2.Abs(w), w, ref x, b, Half(ref blk) * Unsafe.Add(ref dx, b));
            acc1 = Step256(acc1, Avx2.Abs(w1), w1, ref x, b + 1, Half(ref blk1) * Unsafe.Add(ref dx, b + 1));
        }
        if (b < a.Blocks)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            var w = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 2)).AsSByte();
            acc = Step256(acc, Avx2.Abs(w), w, ref x, b, Half(ref blk) * Unsafe.Add(ref dx, b));
        }
        return VectorMath.HSum(acc + acc1);
    }

    private static void Tile256(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride;
        ref sbyte x0 = ref Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, n);
        ref sbyte x2 = ref Unsafe.Add(ref x1, n);
        ref sbyte x3 = ref Unsafe.Add(ref x2, n);
        ref float d0 = ref Scales(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            var w = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 2)).AsSByte();
            var aw = Avx2.Abs(w);
            float dw = Half(ref blk);
            if ((b & 1) == 0)
            {
                a0 = Step256(a0, aw, w, ref x0, b, dw * Unsafe.Add(ref d0, b));
                a1 = Step256(a1, aw, w, ref x1, b, dw * Unsafe.Add(ref d0, ss + b));
                a2 = Step256(a2, aw, w, ref x2, b, dw * Unsafe.Add(ref d0, 2 * ss + b));
                a3 = Step256(a3, aw, w, ref x3, b, dw * Unsafe.Add(ref d0, 3 * ss + b));
            }
            else
            {
                b0 = Step256(b0, aw, w, ref x0, b, dw * Unsafe.Add(ref d0, b));
                b1 = Step256(b1, aw, w, ref x1, b, dw * Unsafe.Add(ref d0, ss + b));
                b2 = Step256(b2, aw, w, ref x2, b, dw * Unsafe.Add(ref d0, 2 * ss + b));
                b3 = Step256(b3, aw, w, ref x3, b, dw * Unsafe.Add(ref d0, 3 * ss + b));
            }
        }
        y = VectorMath.HSum(a0 + b0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1 + b1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2 + b2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3 + b3);
    }

    // ---------------- AVX-512: two blocks per vector, scales 16 blocks at a time, llama.cpp's sum order ----------------
    // A pair is 68 bytes: d0 @0, q0 @2, d1 @34, q1 @36. The quants come from two 32-byte loads; the
    // scales of 16 blocks are collected with vpermt2w from a 64-byte load per pair (words 0 and 17),
    // converted together and picked per pair with vpermps, as in the Q4_0 kernel.

    private static readonly Vector512<ushort>[] ScaleGather = Q4_0Kernel.BuildScaleGather(17);
    private static readonly Vector512<int> PairScaleIndex = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

    private static readonly Vector512<ushort> Level1 = TreeLevel1(17);

    /// <summary>Scales of a group: the permute tree for full groups; the same values by a simple chain for the last, partial one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GroupScales(ref byte g, int m) => m == 16
        ? ScalesOf16Blocks(ref g, 2 * B, true, Level1)
        : PartialGroupScales(ref g, m);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // a call here would spill every live zmm (all are caller-saved)
    private static Vector512<float> PartialGroupScales(ref byte g, int m)
    {
        var sw = Vector512<ushort>.Zero;
        ref var gather = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(ScaleGather);
        int k = 0;
        for (; 2 * k + 1 < m; k++)
            sw = Avx512BW.PermuteVar32x16x2(sw, Unsafe.Add(ref gather, k), Vector512.LoadUnsafe(ref Unsafe.Add(ref g, 2 * B * k)).AsUInt16());
        if ((m & 1) != 0) // a lone last block (34 bytes): 32-byte load, word 17 reads the zero extension
            sw = Avx512BW.PermuteVar32x16x2(sw, Unsafe.Add(ref gather, k), Vector256.LoadUnsafe(ref Unsafe.Add(ref g, 2 * B * k)).AsUInt16().ToVector512());
        return HalfConversion.ToSingle(Avx512F.ConvertToVector512UInt32(sw.GetLower()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> WeightPair(ref byte p) =>
        Vector512.Create(Vector256.LoadUnsafe(ref Unsafe.Add(ref p, 2)), Vector256.LoadUnsafe(ref Unsafe.Add(ref p, B + 2))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> WeightSingle(ref byte p) => Vector256.LoadUnsafe(ref Unsafe.Add(ref p, 2)).AsSByte().ToVector512();

    /// <summary>
    /// One pair (or a lone block in the low half) in llama.cpp's order (tinyBLAS, which its AVX-512
    /// build runs for Q8_0): per block eight int32 lanes, acc += f32(lanes)·(d_w·d_x), block after block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step512(Vector256<float> acc, Vector512<byte> absW, Vector512<sbyte> negW, Vector512<sbyte> x, Vector512<float> s, Vector512<int> idx, bool pair)
    {
        var sx = Vector512.ConditionalSelect(negW, Vector512<sbyte>.Zero - x, x);
        var p = Vector512.ConvertToSingle(DotU8S8(absW, sx));
        var d = Avx512F.PermuteVar16x32(s, idx);
        acc = Vector256.FusedMultiplyAdd(p.GetLower(), d.GetLower(), acc);
        return pair ? Vector256.FusedMultiplyAdd(p.GetUpper(), d.GetUpper(), acc) : acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> XPair(ref sbyte x, int block) => Vector512.LoadUnsafe(ref x, (nuint)(32 * block));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> XSingle(ref sbyte x, int block) => Vector256.LoadUnsafe(ref x, (nuint)(32 * block)).ToVector512();

    private static float Dot512(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        int nb = a.Blocks;
        Vector256<float> acc = default;
        var two = Vector512.Create(2);
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte gp = ref Unsafe.Add(ref row, g * B);
            var s = GroupScales(ref gp, m) * Vector512.LoadUnsafe(ref dx, (nuint)g);
            var idx = PairScaleIndex;
            int k = 0;
            for (; 2 * k + 1 < m; k++, idx += two)
            {
                var w = WeightPair(ref Unsafe.Add(ref gp, 2 * B * k));
                acc = Step512(acc, Avx512BW.Abs(w), Vector512.LessThan(w, Vector512<sbyte>.Zero), XPair(ref x, g + 2 * k), s, idx, pair: true);
            }
            if ((m & 1) != 0)
            {
                var w = WeightSingle(ref Unsafe.Add(ref gp, 2 * B * k));
                acc = Step512(acc, Avx512BW.Abs(w), Vector512.LessThan(w, Vector512<sbyte>.Zero), XSingle(ref x, g + 2 * k), s, idx, pair: false);
            }
        }
        return VectorMath.HSum(acc);
    }

    private static void Tile512(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, nb = a.Blocks;
        ref sbyte x0 = ref Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, n);
        ref sbyte x2 = ref Unsafe.Add(ref x1, n);
        ref sbyte x3 = ref Unsafe.Add(ref x2, n);
        ref float d0 = ref Scales(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        var two = Vector512.Create(2);
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte gp = ref Unsafe.Add(ref row, g * B);
            var dw = GroupScales(ref gp, m);
            var s0 = dw * Vector512.LoadUnsafe(ref d0, (nuint)g);
            var s1 = dw * Vector512.LoadUnsafe(ref d0, (nuint)(ss + g));
            var s2 = dw * Vector512.LoadUnsafe(ref d0, (nuint)(2 * ss + g));
            var s3 = dw * Vector512.LoadUnsafe(ref d0, (nuint)(3 * ss + g));
            var idx = PairScaleIndex;
            int k = 0;
            for (; 2 * k + 1 < m; k++, idx += two)
            {
                var w = WeightPair(ref Unsafe.Add(ref gp, 2 * B * k));
                var aw = Avx512BW.Abs(w);
                var neg = Vector512.LessThan(w, Vector512<sbyte>.Zero);
                int blk = g + 2 * k;
                a0 = Step512(a0, aw, neg, XPair(ref x0, blk), s0, idx, pair: true);
                a1 = Step512(a1, aw, neg, XPair(ref x1, blk), s1, idx, pair: true);
                a2 = Step512(a2, aw, neg, XPair(ref x2, blk), s2, idx, pair: true);
                a3 = Step512(a3, aw, neg, XPair(ref x3, blk), s3, idx, pair: true);
            }
            if ((m & 1) != 0)
            {
                var w = WeightSingle(ref Unsafe.Add(ref gp, 2 * B * k));
                var aw = Avx512BW.Abs(w);
                var neg = Vector512.LessThan(w, Vector512<sbyte>.Zero);
                int blk = g + 2 * k;
                a0 = Step512(a0, aw, neg, XSingle(ref x0, blk), s0, idx, pair: false);
                a1 = Step512(a1, aw, neg, XSingle(ref x1, blk), s1, idx, pair: false);
                a2 = Step512(a2, aw, neg, XSingle(ref x2, blk), s2, idx, pair: false);
                a3 = Step512(a3, aw, neg, XSingle(ref x3, blk), s3, idx, pair: false);
            }
        }
        y = VectorMath.HSum(a0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3);
    }
}
