using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// One 256-value block decoded into registers for the AVX-512 path: four chunks of 64 weights in
/// element order, the int16 scale of every pair of values in each chunk (for vpmaddwd), the mins of
/// the 16 sub-blocks of 16 (as int16, for the activations' 16-value sums), d and dmin.
/// </summary>
internal struct SuperBlock512
{
    public Vector512<sbyte> W0, W1, W2, W3;
    public Vector512<short> S0, S1, S2, S3;
    public Vector256<short> Mins;
    public float D, DMin;
}

/// <summary>Shared pieces of the AVX-512 super-block decoders.</summary>
internal static class SuperBlock512Parts
{
    /// <summary>Scale index vectors: lane i of chunk c takes scale 4c + i/8 of 16 (sub-blocks of 16 values).</summary>
    public static readonly Vector512<short> By16C0 = Index(0, 16), By16C1 = Index(1, 16), By16C2 = Index(2, 16), By16C3 = Index(3, 16);

    /// <summary>Lane i of chunk c takes scale 2c + i/16 of 8 (sub-blocks of 32 values).</summary>
    public static readonly Vector512<short> By32C0 = Index(0, 32), By32C1 = Index(1, 32), By32C2 = Index(2, 32), By32C3 = Index(3, 32);

    private static Vector512<short> Index(int c, int sub)
    {
        Span<short> idx = stackalloc short[32];
        int perChunk = 64 / sub;
        for (int i = 0; i < 32; i++) idx[i] = (short)(perChunk * c + i / (sub / 2));
        return Vector512.Create<short>(idx);
    }

    /// <summary>16 int16 scales (one per 16 values) spread over the four chunks' pair lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Spread16(Vector256<short> sc, ref SuperBlock512 k)
    {
        var s = sc.ToVector512();
        k.S0 = Avx512BW.PermuteVar32x16(s, By16C0);
        k.S1 = Avx512BW.PermuteVar32x16(s, By16C1);
        k.S2 = Avx512BW.PermuteVar32x16(s, By16C2);
        k.S3 = Avx512BW.PermuteVar32x16(s, By16C3);
    }

    /// <summary>8 scales (one per 32 values, bytes of <paramref name="sc"/> minus <paramref name="bias"/>) spread over the chunks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Spread32(ulong sc, short bias, ref SuperBlock512 k)
    {
        var s = (Avx2.ConvertToVector256Int16(Vector128.CreateScalar(sc).AsByte()) - Vector256.Create(bias)).ToVector512();
        k.S0 = Avx512BW.PermuteVar32x16(s, By32C0);
        k.S1 = Avx512BW.PermuteVar32x16(s, By32C1);
        k.S2 = Avx512BW.PermuteVar32x16(s, By32C2);
        k.S3 = Avx512BW.PermuteVar32x16(s, By32C3);
    }

    /// <summary>32 bytes at p in both 256-bit halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> Twice(ref byte p)
    {
        var q = Vector256.LoadUnsafe(ref p).AsUInt64().ToVector512Unsafe();
        return Avx512F.Shuffle4x128(q, q, 0x44).AsByte();
    }

    /// <summary>Bytes where bit <paramref name="lo"/> (first half) / <paramref name="hi"/> (second half) is set, as <paramref name="value"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> IfBits(Vector512<byte> v, int lo, int hi, byte value)
    {
        var m = Vector512.Create(Vector256.Create((byte)(1 << lo)), Vector256.Create((byte)(1 << hi)));
        return Vector512.Equals(v & m, m) & Vector512.Create(value);
    }

    /// <summary>Two bits of each byte at <paramref name="lo"/> (first half) / <paramref name="hi"/> (second half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<byte> TwoBits(Vector512<byte> v, int lo, int hi)
    {
        var shifts = Vector512.Create(Vector256.Create((ushort)lo), Vector256.Create((ushort)hi));
        return Avx512BW.ShiftRightLogicalVariable(v.AsUInt16(), shifts).AsByte() & Vector512.Create((byte)3);
    }
}
