using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q4_K weights (144-byte blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of
/// nibbles) against Q8_K activations. Per block: d·d_x·Σ_j sc_j·Σ q·x − dmin·d_x·Σ_j m_j·Σx, where the
/// inner sums are exact integers (sub-block scales are applied with vpmaddwd) and Σx over each
/// 32 values comes from the activation's 16-value sums.
/// </summary>
internal readonly struct Q4_KKernel : IRowKernel
{
    private const int B = 144;

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
        ref short bs = ref Sums16(a, t);
        var mask = Vector128.Create((byte)0x0F);
        float s = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            UnpackQ4KScales(ref Unsafe.Add(ref blk, 4), out ulong sc, out ulong mn);
            int isum = 0, msum = 0;
            for (int c = 0; c < 4; c++)
            {
                var v0 = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 16 + 32 * c));
                var v1 = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 32 + 32 * c));
                int xo = 256 * b + 64 * c;
                int lo = Vector128.Sum(DotI8((v0 & mask).AsSByte(), Load128(ref x, xo)) + DotI8((v1 & mask).AsSByte(), Load128(ref x, xo + 16)));
                int hi = Vector128.Sum(DotI8((v0 >> 4).AsSByte(), Load128(ref x, xo + 32)) + DotI8((v1 >> 4).AsSByte(), Load128(ref x, xo + 48)));
                isum += (int)((sc >> (16 * c)) & 0xFF) * lo + (int)((sc >> (16 * c + 8)) & 0xFF) * hi;
            }
            for (int j = 0; j < 8; j++)
                msum += (int)((mn >> (8 * j)) & 0xFF) * (Unsafe.Add(ref bs, 16 * b + 2 * j) + Unsafe.Add(ref bs, 16 * b + 2 * j + 1));
            float dxb = Unsafe.Add(ref dx, b);
            s = MathF.FusedMultiplyAdd(Half(ref blk) * dxb, isum, s);
            s = MathF.FusedMultiplyAdd(-(Half(ref Unsafe.Add(ref blk, 2)) * dxb), msum, s);
        }
        return s;
    }

    /// <summary>Eight 6-bit mins duplicated into 16 int16 lanes (m0, m0, m1, m1, …) to pair with 16-value sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> MinPairs(ulong mins)
    {
        var m = Vector128.CreateScalar(mins).AsByte();
        return Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
    }

    // ---------------- AVX2: 32 values per vector ----------------

    private struct Block256
    {
        public Vector256<byte> N0, N1, N2, N3, N4, N5, N6, N7; // sub-blocks 0..7
        public Vector256<short> S0, S1, S2, S3, S4, S5, S6, S7; // their scales, broadcast
        public Vector256<short> Mins;
        public float D, DMin;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Sub256(Vector256<byte> nib, ref sbyte x, int off, Vector256<short> sc) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(nib, Vector256.LoadUnsafe(ref x, (nuint)off)), sc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token256(ref Vector256<float> acc, ref Vector256<float> accM, in Block256 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Sub256(k.N0, ref x, o, k.S0) + Sub256(k.N1, ref x, o + 32, k.S1))
                 + (Sub256(k.N2, ref x, o + 64, k.S2) + Sub256(k.N3, ref x, o + 96, k.S3))
                 + ((Sub256(k.N4, ref x, o + 128, k.S4) + Sub256(k.N5, ref x, o + 160, k.S5))
                 + (Sub256(k.N6, ref x, o + 192, k.S6) + Sub256(k.N7, ref x, o + 224, k.S7)));
        float dxb = Unsafe.Add(ref dx, b);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(isum), Vector256.Create(k.D * dxb), acc);
        var mi = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Mins);
        accM = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(mi), Vector256.Create(k.DMin * dxb), accM);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode256(ref byte blk, out Block256 k)
    {
        UnpackQ4KScales(ref Unsafe.Add(ref blk, 4), out ulong sc, out ulong mn);
        var mask = Vector256.Create((byte)0x0F);
        var q0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 16));
        var q1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 48));
        var q2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 80));
        var q3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 112));
        k.N0 = q0 & mask; k.N1 = (q0.AsUInt16() >> 4).AsByte() & mask;
        k.N2 = q1 & mask; k.N3 = (q1.AsUInt16() >> 4).AsByte() & mask;
        k.N4 = q2 & mask; k.N5 = (q2.AsUInt16() >> 4).AsByte() & mask;
        k.N6 = q3 & mask; k.N7 = (q3.AsUInt16() >> 4).AsByte() & mask;
        k.S0 = Vector256.Create((short)(sc & 0xFF)); k.S1 = Vector256.Create((short)((sc >> 8) & 0xFF));
        k.S2 = Vector256.Create((short)((sc >> 16) & 0xFF)); k.S3 = Vector256.Create((short)((sc >> 24) & 0xFF));
        k.S4 = Vector256.Create((short)((sc >> 32) & 0xFF)); k.S5 = Vector256.Create((short)((sc >> 40) & 0xFF));
        k.S6 = Vector256.Create((short)((sc >> 48) & 0xFF)); k.S7 = Vector256.Create((short)(sc >> 56));
        k.Mins = MinPairs(mn);
        k.D = Half(ref blk);
        k.DMin = Half(ref Unsafe.Add(ref blk, 2));
    }

    private static float Dot256(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref short bs = ref Sums16(a, t);
        Vector256<float> acc = default, accM = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode256(ref Unsafe.Add(ref row, b * B), out var k);
            Token256(ref acc, ref accM, in k, ref x, ref dx, ref bs, b);
        }
        return VectorMath.HSum(acc) - VectorMath.HSum(accM);
    }

    private static void Tile256(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, n16 = a.Blocks * 16;
        ref sbyte x0 = ref Quants(a, t0);
        ref float d0 = ref Scales(a, t0);
        ref short b0 = ref Sums16(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode256(ref Unsafe.Add(ref row, b * B), out var k);
            Token256(ref a0, ref m0, in k, ref x0, ref d0, ref b0, b);
            Token256(ref a1, ref m1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
            Token256(ref a2, ref m2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
            Token256(ref a3, ref m3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
        }
        y = VectorMath.HSum(a0) - VectorMath.HSum(m0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1) - VectorMath.HSum(m1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2) - VectorMath.HSum(m2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3) - VectorMath.HSum(m3);
    }

    // ---------------- AVX-512: 64 values (two sub-blocks) per vector ----------------
    // Chunk c's 32 bytes are broadcast to both halves; one gf2p8affineqb keeps the low nibbles in the
    // low half (sub-block 2c) and the high nibbles in the high half (2c+1): ggml's element order, so
    // the activations load as they are. Scales become int16 lanes with one vpermw per chunk.

    private static readonly Vector512<byte> ChunkNibbles = Vector512.Create(
        LowNibbleMatrix, LowNibbleMatrix, LowNibbleMatrix, LowNibbleMatrix,
        HighNibbleMatrix, HighNibbleMatrix, HighNibbleMatrix, HighNibbleMatrix).AsByte();

    private static readonly Vector512<short> ScaleIdx0 = ScaleIndex(0), ScaleIdx1 = ScaleIndex(1), ScaleIdx2 = ScaleIndex(2), ScaleIdx3 = ScaleIndex(3);

    private static Vector512<short> ScaleIndex(int c)
    {
        Span<short> idx = stackalloc short[32];
        for (int i = 0; i < 32; i++) idx[i] = (short)(2 * c + i / 16);
        return Vector512.Create<short>(idx);
    }

    private struct Block512
    {
        public Vector512<byte> N0, N1, N2, N3;
        public Vector512<short> S0, S1, S2, S3;
        public Vector256<short> Mins;
        public float D, DMin;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Chunk512(ref byte p)
    {
        // vshufi64x2 duplicates the 32 bytes; Vector512.Create(q, q) became two vinserts into a register
        // still holding the previous block, a dependency carried across iterations.
        var q = Vector256.LoadUnsafe(ref p).AsUInt64().ToVector512Unsafe();
        return Gfni.V512.GaloisFieldAffineTransform(Avx512F.Shuffle4x128(q, q, 0x44).AsByte(), ChunkNibbles, 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode512(ref byte blk, out Block512 k)
    {
        UnpackQ4KScales(ref Unsafe.Add(ref blk, 4), out ulong sc, out ulong mn);
        k.N0 = Chunk512(ref Unsafe.Add(ref blk, 16));
        k.N1 = Chunk512(ref Unsafe.Add(ref blk, 48));
        k.N2 = Chunk512(ref Unsafe.Add(ref blk, 80));
        k.N3 = Chunk512(ref Unsafe.Add(ref blk, 112));
        var sw = Avx2.ConvertToVector256Int16(Vector128.CreateScalar(sc).AsByte()).ToVector512();
        k.S0 = Avx512BW.PermuteVar32x16(sw, ScaleIdx0);
        k.S1 = Avx512BW.PermuteVar32x16(sw, ScaleIdx1);
        k.S2 = Avx512BW.PermuteVar32x16(sw, ScaleIdx2);
        k.S3 = Avx512BW.PermuteVar32x16(sw, ScaleIdx3);
        k.Mins = MinPairs(mn);
        k.D = Half(ref blk);
        k.DMin = Half(ref Unsafe.Add(ref blk, 2));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Sub512(Vector512<byte> nib, ref sbyte x, int off, Vector512<short> sc) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(nib, Vector512.LoadUnsafe(ref x, (nuint)off)), sc);

    /// <summary>
    /// One token and block in llama.cpp's float order (its repacked 8×8 gemv/gemm, which its AVX2 and
    /// AVX-512 builds run when the row count is a multiple of 8): the block's exact int Σ sc·q·x and
    /// Σ m·Σx, each converted once, acc += f32(isum)·(d·d_x), accM += f32(msum)·(dmin·d_x); y = acc − accM.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token512(ref float acc, ref float accM, in Block512 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Sub512(k.N0, ref x, o, k.S0) + Sub512(k.N1, ref x, o + 64, k.S1))
                 + (Sub512(k.N2, ref x, o + 128, k.S2) + Sub512(k.N3, ref x, o + 192, k.S3));
        float dxb = Unsafe.Add(ref dx, b);
        acc = MathF.FusedMultiplyAdd(Vector512.Sum(isum), k.D * dxb, acc);
        var mi = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Mins);
        accM = MathF.FusedMultiplyAdd(Vector256.Sum(mi), k.DMin * dxb, accM);
    }

    private static float Dot512(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref short bs = ref Sums16(a, t);
        float acc = 0, accM = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode512(ref Unsafe.Add(ref row, b * B), out var k);
            Token512(ref acc, ref accM, in k, ref x, ref dx, ref bs, b);
        }
        return acc - accM;
    }

    private static void Tile512(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, n16 = a.Blocks * 16;
        ref sbyte x0 = ref Quants(a, t0);
        ref float d0 = ref Scales(a, t0);
        ref short b0 = ref Sums16(a, t0);
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, m0 = 0, m1 = 0, m2 = 0, m3 = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode512(ref Unsafe.Add(ref row, b * B), out var k);
            Token512(ref a0, ref m0, in k, ref x0, ref d0, ref b0, b);
            Token512(ref a1, ref m1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
            Token512(ref a2, ref m2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
            Token512(ref a3, ref m3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
        }
        y = a0 - m0;
        Unsafe.Add(ref y, ys) = a1 - m1;
        Unsafe.Add(ref y, 2 * ys) = a2 - m2;
        Unsafe.Add(ref y, 3 * ys) = a3 - m3;
    }
}
