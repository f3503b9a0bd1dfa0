using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q6_K weights (210-byte blocks of 256: ql[128], qh[64], 16 int8 scales, f16 d last) against Q8_K
/// activations. The 6-bit values u = q+32 are unsigned (vpmaddubsw's left operand) and the offset is
/// removed exactly with the activation's 16-value sums: d·d_x·(Σ_s sc_s·Σu·x − 32·Σ_s sc_s·Σx).
/// </summary>
internal readonly struct Q6_KKernel : IRowKernel
{
    private const int B = 210;

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

    // ---------------- Portable: 16 values at a time, signed q−32 ----------------

    private static float Dot128(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        var lowMask = Vector128.Create((byte)0x0F);
        var three = Vector128.Create((byte)3);
        var off = Vector128.Create((sbyte)32);
        float s = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            ref sbyte sc = ref Unsafe.As<byte, sbyte>(ref Unsafe.Add(ref blk, 192));
            int isum = 0;
            for (int n = 0; n < 2; n++)
            {
                for (int l0 = 0; l0 < 32; l0 += 16)
                {
                    var qa = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 64 * n + l0));
                    var qb = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 64 * n + 32 + l0));
                    var h = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 128 + 32 * n + l0));
                    var q1 = ((qa & lowMask) | ((h & three) << 4)).AsSByte() - off;
                    var q2 = ((qb & lowMask) | (((h >> 2) & three) << 4)).AsSByte() - off;
                    var q3 = ((qa >> 4) | (((h >> 4) & three) << 4)).AsSByte() - off;
                    var q4 = ((qb >> 4) | ((h >> 6) << 4)).AsSByte() - off;
                    int e = 256 * b + 128 * n + l0, sub = 8 * n + l0 / 16;
                    isum += Unsafe.Add(ref sc, sub) * Vector128.Sum(DotI8(q1, Load128(ref x, e)));
                    isum += Unsafe.Add(ref sc, sub + 2) * Vector128.Sum(DotI8(q2, Load128(ref x, e + 32)));
                    isum += Unsafe.Add(ref sc, sub + 4) * Vector128.Sum(DotI8(q3, Load128(ref x, e + 64)));
                    isum += Unsafe.Add(ref sc, sub + 6) * Vector128.Sum(DotI8(q4, Load128(ref x, e + 96)));
                }
            }
            s = MathF.FusedMultiplyAdd(Half(ref Unsafe.Add(ref blk, 208)) * Unsafe.Add(ref dx, b), isum, s);
        }
        return s;
    }

    // ---------------- AVX2: 32 values per vector ----------------

    private struct Block256
    {
        public Vector256<byte> Q0, Q1, Q2, Q3, Q4, Q5, Q6, Q7; // values 32i..32i+31 of the block, unsigned
        public Vector256<short> S0, S1, S2, S3, S4, S5, S6, S7; // two sub-block scales each, 8 lanes apiece
        public Vector256<short> Scales; // the 16 scales, for the offset term
        public float D;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> ScalePair(Vector128<sbyte> sc, int first) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(sc, Vector128.Create(
            (sbyte)first, (sbyte)first, (sbyte)first, (sbyte)first, (sbyte)first, (sbyte)first, (sbyte)first, (sbyte)first,
            (sbyte)(first + 1), (sbyte)(first + 1), (sbyte)(first + 1), (sbyte)(first + 1),
            (sbyte)(first + 1), (sbyte)(first + 1), (sbyte)(first + 1), (sbyte)(first + 1))));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode256(ref byte blk, out Block256 k)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m2 = Vector256.Create((byte)0x30);
        var l0 = Vector256.LoadUnsafe(ref blk);
        var l1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 32));
        var h0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 128)).AsUInt16();
        k.Q0 = (l0 & m4) | ((h0 << 4).AsByte() & m2);
        k.Q1 = (l1 & m4) | ((h0 << 2).AsByte() & m2);
        k.Q2 = ((l0.AsUInt16() >> 4).AsByte() & m4) | (h0.AsByte() & m2);
        k.Q3 = ((l1.AsUInt16() >> 4).AsByte() & m4) | ((h0 >> 2).AsByte() & m2);
        var l2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64));
        var l3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96));
        var h1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 160)).AsUInt16();
        k.Q4 = (l2 & m4) | ((h1 << 4).AsByte() & m2);
        k.Q5 = (l3 & m4) | ((h1 << 2).AsByte() & m2);
        k.Q6 = ((l2.AsUInt16() >> 4).AsByte() & m4) | (h1.AsByte() & m2);
        k.Q7 = ((l3.AsUInt16() >> 4).AsByte() & m4) | ((h1 >> 2).AsByte() & m2);
        var sc = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 192)).AsSByte();
        k.S0 = ScalePair(sc, 0); k.S1 = ScalePair(sc, 2); k.S2 = ScalePair(sc, 4); k.S3 = ScalePair(sc, 6);
        k.S4 = ScalePair(sc, 8); k.S5 = ScalePair(sc, 10); k.S6 = ScalePair(sc, 12); k.S7 = ScalePair(sc, 14);
        k.Scales = Avx2.ConvertToVector256Int16(sc);
        k.D = Half(ref Unsafe.Add(ref blk, 208));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sub256(Vector256<byte> q, ref sbyte x, int off, Vector256<short> sc) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(q, Vector256.LoadUnsafe(ref x, (nuint)off)), sc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token256(ref Vector256<float> acc, ref Vector256<float> accC, in Block256 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Sub256(k.Q0, ref x, o, k.S0) + Sub256(k.Q1, ref x, o + 32, k.S1))
                 + (Sub256(k.Q2, ref x, o + 64, k.S2) + Sub256(k.Q3, ref x, o + 96, k.S3))
                 + ((Sub256(k.Q4, ref x, o + 128, k.S4) + Sub256(k.Q5, ref x, o + 160, k.S5))
                 + (Sub256(k.Q6, ref x, o + 192, k.S6) + Sub256(k.Q7, ref x, o + 224, k.S7)));
        var ds = Vector256.Create(k.D * Unsafe.Add(ref dx, b));
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(isum), ds, acc);
        var corr = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Scales);
        accC = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(corr), ds, accC);
    }

    private static float Dot256(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref short bs = ref Sums16(a, t);
        Vector256<float> acc = default, accC = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode256(ref Unsafe.Add(ref row, b * B), out var k);
            Token256(ref acc, ref accC, in k, ref x, ref dx, ref bs, b);
        }
        return VectorMath.HSum(acc) - 32f * VectorMath.HSum(accC);
    }

    private static void Tile256(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, n16 = a.Blocks * 16;
        ref sbyte x0 = ref Quants(a, t0);
        ref float d0 = ref Scales(a, t0);
        ref short b0 = ref Sums16(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode256(ref Unsafe.Add(ref row, b * B), out var k);
            Token256(ref a0, ref c0, in k, ref x0, ref d0, ref b0, b);
            Token256(ref a1, ref c1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
            Token256(ref a2, ref c2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
            Token256(ref a3, ref c3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
        }
        y = VectorMath.HSum(a0) - 32f * VectorMath.HSum(c0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1) - 32f * VectorMath.HSum(c1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2) - 32f * VectorMath.HSum(c2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3) - 32f * VectorMath.HSum(c3);
    }

    // ---------------- AVX-512: 64 values per vector ----------------
    // Per half: ql's 64 bytes load as one vector whose low nibbles are values 0..63 and high nibbles
    // values 64..127 of the half; qh (32 bytes) is paired with itself shifted right by 2 so that bits
    // 4-5 of each byte line up with the high nibble (values 64..127) and, shifted left by 4, with the
    // low nibble (values 0..63).

    private static readonly Vector512<byte> HighNibbles = Vector512.Create(HighNibbleMatrix).AsByte();
    private static readonly Vector512<short> ScaleIdx0 = ScaleIndex(0), ScaleIdx1 = ScaleIndex(4), ScaleIdx2 = ScaleIndex(8), ScaleIdx3 = ScaleIndex(12);

    private static Vector512<short> ScaleIndex(int first)
    {
        Span<short> idx = stackalloc short[32];
        for (int i = 0; i < 32; i++) idx[i] = (short)(first + i / 8);
        return Vector512.Create<short>(idx);
    }

    private struct Block512
    {
        public Vector512<byte> Q0, Q1, Q2, Q3;
        public Vector512<short> S0, S1, S2, S3;
        public Vector256<short> Scales;
        public float D;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Half512(ref byte ql, ref byte qh, out Vector512<byte> low, out Vector512<byte> high)
    {
        var l = Vector512.LoadUnsafe(ref ql);
        var h = Vector256.LoadUnsafe(ref qh).AsUInt16();
        var h2 = Vector512.Create(h, h >> 2);
        var m2 = Vector512.Create((byte)0x30);
        low = (l & Vector512.Create((byte)0x0F)) | ((h2 << 4).AsByte() & m2);
        high = Gfni.V512.GaloisFieldAffineTransform(l, HighNibbles, 0) | (h2.AsByte() & m2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode512(ref byte blk, out Block512 k)
    {
        Half512(ref blk, ref Unsafe.Add(ref blk, 128), out k.Q0, out k.Q1);
        Half512(ref Unsafe.Add(ref blk, 64), ref Unsafe.Add(ref blk, 160), out k.Q2, out k.Q3);
        var sc = Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 192)).AsSByte());
        var sw = sc.ToVector512Unsafe();
        k.S0 = Avx512BW.PermuteVar32x16(sw, ScaleIdx0);
        k.S1 = Avx512BW.PermuteVar32x16(sw, ScaleIdx1);
        k.S2 = Avx512BW.PermuteVar32x16(sw, ScaleIdx2);
        k.S3 = Avx512BW.PermuteVar32x16(sw, ScaleIdx3);
        k.Scales = sc;
        k.D = Half(ref Unsafe.Add(ref blk, 208));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Sub512(Vector512<byte> q, ref sbyte x, int off, Vector512<short> sc) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(q, Vector512.LoadUnsafe(ref x, (nuint)off)), sc);

    /// <summary>
    /// One token and block in llama.cpp's float order (its AVX2 vec_dot, which its AVX-512 build runs):
    /// eight int32 lanes, lane k = Σ over every 32 values' elements 4k..4k+3 of sc·u·x minus
    /// 32·(sc₂ₖ·Σx₂ₖ + sc₂ₖ₊₁·Σx₂ₖ₊₁), then acc += f32(lanes)·(d·d_x).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token512(ref Vector256<float> acc, in Block512 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Sub512(k.Q0, ref x, o, k.S0) + Sub512(k.Q1, ref x, o + 64, k.S1))
                 + (Sub512(k.Q2, ref x, o + 128, k.S2) + Sub512(k.Q3, ref x, o + 192, k.S3));
        var corr = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Scales);
        var lanes = isum.GetLower() + isum.GetUpper() - (corr << 5);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(lanes), Vector256.Create(k.D * Unsafe.Add(ref dx, b)), acc);
    }

    private static float Dot512(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref short bs = ref Sums16(a, t);
        Vector256<float> acc = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode512(ref Unsafe.Add(ref row, b * B), out var k);
            Token512(ref acc, in k, ref x, ref dx, ref bs, b);
        }
        return VectorMath.HSum(acc);
    }

    private static void Tile512(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, n16 = a.Blocks * 16;
        ref sbyte x0 = ref Quants(a, t0);
        ref float d0 = ref Scales(a, t0);
        ref short b0 = ref Sums16(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode512(ref Unsafe.Add(ref row, b * B), out var k);
            Token512(ref a0, in k, ref x0, ref d0, ref b0, b);
            Token512(ref a1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
            Token512(ref a2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
            Token512(ref a3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
        }
        y = VectorMath.HSum(a0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3);
    }
}
