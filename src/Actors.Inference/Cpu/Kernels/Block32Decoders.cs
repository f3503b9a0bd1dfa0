using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// One 32-value block type that <see cref="Block32Kernel{T}"/> multiplies: its integer weights in
/// element order, its f16 scale and, for the "_1" types, its f16 min (y = d·q + m).
/// </summary>
internal interface IBlock32Decoder
{
    static abstract int BlockBytes { get; }

    /// <summary>Whether the block has a min m (Q4_1, Q5_1: activations are Q8_1 and carry s = d·Σq).</summary>
    static abstract bool HasMin { get; }

    /// <summary>Elements 0..15 to <paramref name="lo"/>, 16..31 to <paramref name="hi"/>, as int8 (|q| ≤ 127).</summary>
    static abstract void Decode(ref byte blk, out Vector128<sbyte> lo, out Vector128<sbyte> hi);

    static abstract float Min(ref byte blk);

    /// <summary>
    /// Whether llama.cpp sums this type one scalar FMA per block (its repacked gemv/gemm, IQ4_NL on
    /// AVX2/AVX-512 when the row count is a multiple of 8) rather than in 8 lanes (vec_dot, tinyBLAS).
    /// </summary>
    static virtual bool SumsPerBlock => false;
}

/// <summary>Q4_1: d @0, m @2, qs[16] @4; element j = qs[j] &amp; 15, element j+16 = qs[j] &gt;&gt; 4. y = d·q + m.</summary>
internal readonly struct Q4_1Decoder : IBlock32Decoder
{
    public static int BlockBytes => 20;
    public static bool HasMin => true;
    public static float Min(ref byte blk) => Half(ref Unsafe.Add(ref blk, 2));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, out Vector128<sbyte> lo, out Vector128<sbyte> hi)
    {
        var q = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 4));
        lo = (q & Vector128.Create((byte)15)).AsSByte();
        hi = Decode128.High(q).AsSByte();
    }
}

/// <summary>Q5_0: d @0, qh (u32) @2, qs[16] @6; element j = (nibble | bit j of qh ≪ 4) − 16. y = d·q.</summary>
internal readonly struct Q5_0Decoder : IBlock32Decoder
{
    public static int BlockBytes => 22;
    public static bool HasMin => false;
    public static float Min(ref byte blk) => 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, out Vector128<sbyte> lo, out Vector128<sbyte> hi)
    {
        var q = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 6));
        FiveBit(q, Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref blk, 2)), out var l, out var h);
        var sixteen = Vector128.Create((byte)16);
        lo = (l - sixteen).AsSByte();
        hi = (h - sixteen).AsSByte();
    }

    private static readonly Vector128<byte> SpreadLo = Vector128.Create((byte)0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    private static readonly Vector128<byte> SpreadHi = Vector128.Create((byte)2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    private static readonly Vector128<byte> BitOfByte = Vector128.Create((byte)1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);

    /// <summary>The 32 five-bit values of Q5_0/Q5_1: nibbles of <paramref name="q"/> plus bit j of <paramref name="qh"/> as 16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void FiveBit(Vector128<byte> q, uint qh, out Vector128<byte> lo, out Vector128<byte> hi)
    {
        var h = Vector128.Create(qh).AsByte();
        var sixteen = Vector128.Create((byte)16);
        var hl = Vector128.Equals(Lookup(h, SpreadLo) & BitOfByte, BitOfByte) & sixteen;
        var hh = Vector128.Equals(Lookup(h, SpreadHi) & BitOfByte, BitOfByte) & sixteen;
        lo = (q & Vector128.Create((byte)15)) | hl;
        hi = Decode128.High(q) | hh;
    }
}

/// <summary>Q5_1: d @0, m @2, qh (u32) @4, qs[16] @8; element j = nibble | bit j of qh ≪ 4. y = d·q + m.</summary>
internal readonly struct Q5_1Decoder : IBlock32Decoder
{
    public static int BlockBytes => 24;
    public static bool HasMin => true;
    public static float Min(ref byte blk) => Half(ref Unsafe.Add(ref blk, 2));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, out Vector128<sbyte> lo, out Vector128<sbyte> hi)
    {
        var q = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 8));
        Q5_0Decoder.FiveBit(q, Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref blk, 4)), out var l, out var h);
        lo = l.AsSByte();
        hi = h.AsSByte();
    }
}

/// <summary>IQ4_NL: d @0, qs[16] @2; element j = kvalues[qs[j] &amp; 15], element j+16 = kvalues[qs[j] &gt;&gt; 4]. y = d·q.</summary>
internal readonly struct IQ4_NLDecoder : IBlock32Decoder
{
    public static int BlockBytes => 18;
    public static bool SumsPerBlock => true;
    public static bool HasMin => false;
    public static float Min(ref byte blk) => 0;

    /// <summary>ggml's kvalues_iq4nl: the 16 non-linear levels of IQ4_NL and IQ4_XS.</summary>
    internal static readonly Vector128<byte> Levels =
        Vector128.Create((sbyte)-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Decode(ref byte blk, out Vector128<sbyte> lo, out Vector128<sbyte> hi)
    {
        var q = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 2));
        lo = Lookup(Levels, q & Vector128.Create((byte)15)).AsSByte();
        hi = Lookup(Levels, Decode128.High(q)).AsSByte();
    }
}
