using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;
using static Actors.Inference.Cpu.Kernels.SuperBlock512Parts;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// One 256-value block type that <see cref="SuperBlockKernel{T}"/> multiplies with Q8_K activations:
/// y = d·sc_j·q − dmin·m_j for the value's sub-block j. Decoding yields the integer weights in
/// element order and one integer scale (and min) per 16 values, so every type shares one exact
/// integer dot product.
/// </summary>
internal interface ISuperBlockDecoder
{
    static abstract int BlockBytes { get; }

    /// <summary>Whether values carry a min (Q2_K, Q5_K), multiplied with the activations' 16-value sums.</summary>
    static abstract bool HasMin { get; }

    /// <summary>
    /// Writes the 256 weights (|q| ≤ 127) to <paramref name="w"/>, the scale of each 16 values to
    /// <paramref name="sc"/>[0..16) and, with <see cref="HasMin"/>, their mins to <paramref name="mn"/>[0..16).
    /// </summary>
    static abstract void Decode(ref byte blk, ref sbyte w, ref short sc, ref short mn, out float d, out float dmin);

    /// <summary>Whether weights can be negative (then vpmaddubsw needs the sign moved onto the activations).</summary>
    static abstract bool Signed { get; }

    /// <summary>The same block into registers, for the AVX-512 path (requires AVX-512 BW).</summary>
    static abstract void Decode512(ref byte blk, out SuperBlock512 k);

    /// <summary>
    /// Whether llama.cpp's AVX-512 build dots this type with its AVX2 vec_dot (Q3_K, Q5_K, IQ4_XS): eight
    /// int32 lanes per block (lane k = every 32 values' elements 4k..4k+3), one 8-lane f32 FMA per block,
    /// mins into a scalar FMA chain.
    /// </summary>
    static virtual bool EightLanes => false;

    /// <summary>
    /// Whether llama.cpp's AVX-512 build repacks this type (Q2_K, row count a multiple of 8): per block the
    /// exact int Σ sc·q·x and Σ m·Σx, each converted once into its own scalar FMA chain; y = acc − accM.
    /// </summary>
    static virtual bool Repacked => false;
}

/// <summary>Element-wise helpers for the decoders (Vector128 only: the same code on every CPU).</summary>
internal static class Decode128
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Load(ref byte p, int offset) => Vector128.LoadUnsafe(ref Unsafe.Add(ref p, offset));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(Vector128<byte> v, ref sbyte w, int offset) => v.AsSByte().StoreUnsafe(ref w, (nuint)offset);

    /// <summary><paramref name="value"/> where bit <paramref name="bit"/> of the byte is set, else 0 (a mask test: x86 has no byte shifts).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> IfBit(Vector128<byte> v, int bit, byte value)
    {
        var m = Vector128.Create((byte)(1 << bit));
        return Vector128.Equals(v & m, m) & Vector128.Create(value);
    }

    /// <summary>Two bits at <paramref name="shift"/> of each byte, 0..3 (a word shift, then a byte mask).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> TwoBits(Vector128<byte> v, int shift) => Vector128.ShiftRightLogical(v.AsUInt16(), shift).AsByte() & Vector128.Create((byte)3);

    /// <summary>The high nibble of each byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> High(Vector128<byte> v) => Vector128.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & Vector128.Create((byte)15);

    /// <summary>16 bytes as 16 shorts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Widen(Vector128<sbyte> v, ref short dst)
    {
        Vector128.WidenLower(v).StoreUnsafe(ref dst);
        Vector128.WidenUpper(v).StoreUnsafe(ref dst, 8);
    }

    /// <summary>Eight bytes of a ulong, each written to two consecutive shorts (a 32-value sub-block's two halves), minus <paramref name="bias"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WidenTwice(ulong bytes, int bias, ref short dst)
    {
        var v = Vector128.CreateScalar(bytes).AsByte();
        var doubled = Vector128.Shuffle(v, Vector128.Create((byte)0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)) - Vector128.Create((byte)bias);
        Widen(doubled.AsSByte(), ref dst);
    }
}

/// <summary>
/// Q2_K (84 bytes): scales[16] @0 (low nibble scale, high nibble min, per 16 values), qs[64] @16, d @80,
/// dmin @82. Value 128n + 32k + l = (qs[32n + l] ≫ 2k) &amp; 3.
/// </summary>
internal readonly struct Q2_KDecoder : ISuperBlockDecoder
{
    public static bool Repacked => true;
    public static int BlockBytes => 84;
    public static bool HasMin => true;
    public static bool Signed => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode512(ref byte blk, out SuperBlock512 k)
    {
        Unsafe.SkipInit(out k);
        var q0 = Twice(ref Unsafe.Add(ref blk, 16));
        var q1 = Twice(ref Unsafe.Add(ref blk, 48));
        k.W0 = TwoBits(q0, 0, 2).AsSByte();
        k.W1 = TwoBits(q0, 4, 6).AsSByte();
        k.W2 = TwoBits(q1, 0, 2).AsSByte();
        k.W3 = TwoBits(q1, 4, 6).AsSByte();
        var s = Vector128.LoadUnsafe(ref blk);
        Spread16(Avx2.ConvertToVector256Int16(s & Vector128.Create((byte)15)), ref k);
        k.Mins = Avx2.ConvertToVector256Int16(Decode128.High(s));
        k.D = Half(ref Unsafe.Add(ref blk, 80));
        k.DMin = Half(ref Unsafe.Add(ref blk, 82));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, ref sbyte w, ref short sc, ref short mn, out float d, out float dmin)
    {
        for (int n = 0; n < 2; n++)
        {
            var q0 = Decode128.Load(ref blk, 16 + 32 * n);
            var q1 = Decode128.Load(ref blk, 32 + 32 * n);
            for (int k = 0; k < 4; k++)
            {
                Decode128.Store(Decode128.TwoBits(q0, 2 * k), ref w, 128 * n + 32 * k);
                Decode128.Store(Decode128.TwoBits(q1, 2 * k), ref w, 128 * n + 32 * k + 16);
            }
        }
        var s = Decode128.Load(ref blk, 0);
        Decode128.Widen((s & Vector128.Create((byte)15)).AsSByte(), ref sc);
        Decode128.Widen(Decode128.High(s).AsSByte(), ref mn);
        d = Half(ref Unsafe.Add(ref blk, 80));
        dmin = Half(ref Unsafe.Add(ref blk, 82));
    }
}

/// <summary>
/// Q3_K (110 bytes): hmask[32] @0, qs[64] @32, scales[12] @96 (sixteen 6-bit scales, biased by 32),
/// d @108. Value 128n + 32k + l = ((qs[32n + l] ≫ 2k) &amp; 3) − (bit 4n+k of hmask[l] ? 0 : 4).
/// </summary>
internal readonly struct Q3_KDecoder : ISuperBlockDecoder
{
    public static bool EightLanes => true;
    public static int BlockBytes => 110;
    public static bool HasMin => false;
    public static bool Signed => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode512(ref byte blk, out SuperBlock512 k)
    {
        Unsafe.SkipInit(out k);
        var h = Twice(ref blk);
        var q0 = Twice(ref Unsafe.Add(ref blk, 32));
        var q1 = Twice(ref Unsafe.Add(ref blk, 64));
        var four = Vector512.Create((byte)4);
        k.W0 = (TwoBits(q0, 0, 2) + IfBits(h, 0, 1, 4) - four).AsSByte();
        k.W1 = (TwoBits(q0, 4, 6) + IfBits(h, 2, 3, 4) - four).AsSByte();
        k.W2 = (TwoBits(q1, 0, 2) + IfBits(h, 4, 5, 4) - four).AsSByte();
        k.W3 = (TwoBits(q1, 4, 6) + IfBits(h, 6, 7, 4) - four).AsSByte();
        Spread16(Avx2.ConvertToVector256Int16(Scales(ref Unsafe.Add(ref blk, 96)).AsSByte()), ref k);
        k.Mins = default;
        k.D = Half(ref Unsafe.Add(ref blk, 108));
        k.DMin = 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, ref sbyte w, ref short sc, ref short mn, out float d, out float dmin)
    {
        var h0 = Decode128.Load(ref blk, 0);
        var h1 = Decode128.Load(ref blk, 16);
        for (int n = 0; n < 2; n++)
        {
            var q0 = Decode128.Load(ref blk, 32 + 32 * n);
            var q1 = Decode128.Load(ref blk, 48 + 32 * n);
            for (int k = 0; k < 4; k++)
            {
                // q − 4 where the hmask bit is clear: (q + 4·bit) − 4.
                int bit = 4 * n + k;
                var four = Vector128.Create((byte)4);
                Decode128.Store(Decode128.TwoBits(q0, 2 * k) + Decode128.IfBit(h0, bit, 4) - four, ref w, 128 * n + 32 * k);
                Decode128.Store(Decode128.TwoBits(q1, 2 * k) + Decode128.IfBit(h1, bit, 4) - four, ref w, 128 * n + 32 * k + 16);
            }
        }
        UnpackScales(ref Unsafe.Add(ref blk, 96), ref sc);
        d = Half(ref Unsafe.Add(ref blk, 108));
        dmin = 0;
    }

    /// <summary>The 16 six-bit scales minus 32: low 4 bits from bytes 0..7 (two per byte), high 2 bits from bytes 8..11.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void UnpackScales(ref byte s, ref short sc) => Decode128.Widen(Scales(ref s).AsSByte(), ref sc);

    /// <summary>The 16 scales minus 32, one per byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector128<byte> Scales(ref byte s)
    {
        const uint m4 = 0x0F0F0F0F, m2 = 0x03030303;
        uint a0 = Unsafe.ReadUnaligned<uint>(ref s);
        uint a1 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, 4));
        uint hi = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref s, 8));
        uint s0 = (a0 & m4) | ((hi & m2) << 4);
        uint s1 = (a1 & m4) | (((hi >> 2) & m2) << 4);
        uint s2 = ((a0 >> 4) & m4) | (((hi >> 4) & m2) << 4);
        uint s3 = ((a1 >> 4) & m4) | (((hi >> 6) & m2) << 4);
        return Vector128.Create(s0, s1, s2, s3).AsByte() - Vector128.Create((byte)32);
    }
}

/// <summary>
/// Q5_K (176 bytes): d @0, dmin @2, scales[12] @4 (as Q4_K), qh[32] @16, qs[128] @48. Chunk c of 64
/// values: value 64c + l = (qs[32c + l] &amp; 15) + 16·bit 2c of qh[l], value 64c + 32 + l = (qs[32c + l] ≫ 4)
/// + 16·bit 2c+1 of qh[l].
/// </summary>
internal readonly struct Q5_KDecoder : ISuperBlockDecoder
{
    public static bool EightLanes => true;
    public static int BlockBytes => 176;
    public static bool HasMin => true;
    public static bool Signed => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode512(ref byte blk, out SuperBlock512 k)
    {
        Unsafe.SkipInit(out k);
        var h = Twice(ref Unsafe.Add(ref blk, 16));
        k.W0 = (Nibbles(ref Unsafe.Add(ref blk, 48)) | IfBits(h, 0, 1, 16)).AsSByte();
        k.W1 = (Nibbles(ref Unsafe.Add(ref blk, 80)) | IfBits(h, 2, 3, 16)).AsSByte();
        k.W2 = (Nibbles(ref Unsafe.Add(ref blk, 112)) | IfBits(h, 4, 5, 16)).AsSByte();
        k.W3 = (Nibbles(ref Unsafe.Add(ref blk, 144)) | IfBits(h, 6, 7, 16)).AsSByte();
        UnpackQ4KScales(ref Unsafe.Add(ref blk, 4), out ulong scales, out ulong mins);
        Spread32(scales, 0, ref k);
        var m = Vector128.CreateScalar(mins).AsByte();
        k.Mins = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(m, m));
        k.D = Half(ref blk);
        k.DMin = Half(ref Unsafe.Add(ref blk, 2));
    }

    /// <summary>32 bytes' low nibbles, then their high nibbles (sub-blocks 2c and 2c+1 of a chunk).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Nibbles(ref byte p)
    {
        var shifts = Vector512.Create(Vector256.Create((ushort)0), Vector256.Create((ushort)4));
        return Avx512BW.ShiftRightLogicalVariable(Twice(ref p).AsUInt16(), shifts).AsByte() & Vector512.Create((byte)15);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, ref sbyte w, ref short sc, ref short mn, out float d, out float dmin)
    {
        var h0 = Decode128.Load(ref blk, 16);
        var h1 = Decode128.Load(ref blk, 32);
        var low = Vector128.Create((byte)15);
        for (int c = 0; c < 4; c++)
        {
            var q0 = Decode128.Load(ref blk, 48 + 32 * c);
            var q1 = Decode128.Load(ref blk, 64 + 32 * c);
            Decode128.Store((q0 & low) | Decode128.IfBit(h0, 2 * c, 16), ref w, 64 * c);
            Decode128.Store((q1 & low) | Decode128.IfBit(h1, 2 * c, 16), ref w, 64 * c + 16);
            Decode128.Store(Decode128.High(q0) | Decode128.IfBit(h0, 2 * c + 1, 16), ref w, 64 * c + 32);
            Decode128.Store(Decode128.High(q1) | Decode128.IfBit(h1, 2 * c + 1, 16), ref w, 64 * c + 48);
        }
        UnpackQ4KScales(ref Unsafe.Add(ref blk, 4), out ulong scales, out ulong mins);
        Decode128.WidenTwice(scales, 0, ref sc);
        Decode128.WidenTwice(mins, 0, ref mn);
        d = Half(ref blk);
        dmin = Half(ref Unsafe.Add(ref blk, 2));
    }
}

/// <summary>
/// IQ4_XS (136 bytes): d @0, scales_h (u16) @2, scales_l[4] @4, qs[128] @8. Sub-block ib of 32 values has
/// scale ls − 32 with ls = nibble ib of scales_l | 2 bits ib of scales_h ≪ 4; its values are
/// kvalues[nibbles of qs[16·ib ..]], low nibbles first.
/// </summary>
internal readonly struct IQ4_XSDecoder : ISuperBlockDecoder
{
    public static bool EightLanes => true;
    public static int BlockBytes => 136;
    public static bool HasMin => false;
    public static bool Signed => true;

    private static readonly Vector512<byte> Levels512 = Vector512.Create(Vector256.Create(IQ4_NLDecoder.Levels, IQ4_NLDecoder.Levels), Vector256.Create(IQ4_NLDecoder.Levels, IQ4_NLDecoder.Levels));
    private static readonly Vector512<ushort> LaneShifts = Vector512.Create(
        Vector256.Create(Vector128.Create((ushort)0), Vector128.Create((ushort)4)), Vector256.Create(Vector128.Create((ushort)0), Vector128.Create((ushort)4)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode512(ref byte blk, out SuperBlock512 k)
    {
        Unsafe.SkipInit(out k);
        k.W0 = Chunk(ref Unsafe.Add(ref blk, 8));
        k.W1 = Chunk(ref Unsafe.Add(ref blk, 40));
        k.W2 = Chunk(ref Unsafe.Add(ref blk, 72));
        k.W3 = Chunk(ref Unsafe.Add(ref blk, 104));
        Spread32(ScaleBytes(ref blk), 32, ref k);
        k.Mins = default;
        k.D = Half(ref blk);
        k.DMin = 0;
    }

    /// <summary>Sub-blocks 2c and 2c+1 (32 bytes): each one's 16 low nibbles, then its 16 high nibbles, as levels.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> Chunk(ref byte p)
    {
        var q = Vector256.LoadUnsafe(ref p).AsUInt64().ToVector512Unsafe();
        var lanes = Avx512F.Shuffle4x128(q, q, 0x50).AsUInt16(); // 128-bit lanes 0, 0, 1, 1
        var idx = Avx512BW.ShiftRightLogicalVariable(lanes, LaneShifts).AsByte() & Vector512.Create((byte)15);
        return Avx512BW.Shuffle(Levels512, idx).AsSByte();
    }

    /// <summary>The eight 6-bit scales ls (before the −32), one per byte.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong ScaleBytes(ref byte blk)
    {
        uint sh = Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref blk, 2));
        uint sl = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref blk, 4));
        ulong packed = 0;
        for (int ib = 0; ib < 8; ib++)
            packed |= (ulong)(((sl >> (4 * ib)) & 15) | (((sh >> (2 * ib)) & 3) << 4)) << (8 * ib);
        return packed;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, ref sbyte w, ref short sc, ref short mn, out float d, out float dmin)
    {
        var levels = IQ4_NLDecoder.Levels;
        var low = Vector128.Create((byte)15);
        for (int ib = 0; ib < 8; ib++)
        {
            var q = Decode128.Load(ref blk, 8 + 16 * ib);
            Decode128.Store(Lookup(levels, q & low), ref w, 32 * ib);
            Decode128.Store(Lookup(levels, Decode128.High(q)), ref w, 32 * ib + 16);
        }
        Decode128.WidenTwice(ScaleBytes(ref blk), 32, ref sc);
        d = Half(ref blk);
        dmin = 0;
    }
}
