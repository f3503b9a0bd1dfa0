using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>Small building blocks shared by the integer kernels.</summary>
internal static class QuantMath
{
    /// <summary>GF(2) affine matrix (vgf2p8affineqb) that keeps a byte's low nibble: out bit i = in bit i for i &lt; 4.</summary>
    public const ulong LowNibbleMatrix = 0x0102040800000000;

    /// <summary>Affine matrix that moves a byte's high nibble down: out bit i = in bit i+4 for i &lt; 4.</summary>
    public const ulong HighNibbleMatrix = 0x1020408000000000;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Half(ref byte p) => HalfConversion.ToSingle(Unsafe.ReadUnaligned<ushort>(ref p));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref sbyte Quants(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.Quants), (nint)t * a.Cols);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float Scales(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.Scales), (nint)t * a.ScaleStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float ScaledSums(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.ScaledSums), (nint)t * a.ScaleStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref short Sums16(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(a.Sums16), (nint)t * a.Blocks * 16);

    /// <summary>
    /// Unpacks Q4_K's twelve scale bytes into eight 6-bit scales and eight 6-bit mins, one per byte of
    /// each result (sub-block j in byte j). Word-wide version of ggml's get_scale_min_k4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void UnpackQ4KScales(ref byte q, out ulong scales, out ulong mins)
    {
        uint u0 = Unsafe.ReadUnaligned<uint>(ref q);
        uint u1 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref q, 4));
        uint u2 = Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref q, 8));
        uint sHi = (u2 & 0x0F0F0F0F) | ((u0 >> 2) & 0x30303030);
        uint mHi = ((u2 >> 4) & 0x0F0F0F0F) | ((u1 >> 2) & 0x30303030);
        scales = (u0 & 0x3F3F3F3F) | ((ulong)sHi << 32);
        mins = (u1 & 0x3F3F3F3F) | ((ulong)mHi << 32);
    }

    /// <summary>Lane sums of a·b for 16 int8 pairs (|a·b| ≤ 128·127 so the int16 pair sums cannot overflow).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<int> DotI8(Vector128<sbyte> a, Vector128<sbyte> b)
    {
        var s = Vector128.WidenLower(a) * Vector128.WidenLower(b) + Vector128.WidenUpper(a) * Vector128.WidenUpper(b);
        return Vector128.WidenLower(s) + Vector128.WidenUpper(s);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Load128(ref byte p, nint offset) => Vector128.LoadUnsafe(ref Unsafe.Add(ref p, offset)).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Load128(ref sbyte p, nint offset) => Vector128.LoadUnsafe(ref Unsafe.Add(ref p, offset));

    /// <summary>u8×s8 products summed over groups of four into int32 lanes (vpmaddubsw + vpmaddwd); pair sums must fit int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> DotU8S8(Vector512<byte> u, Vector512<sbyte> s) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), Vector512<short>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotU8S8(Vector256<byte> u, Vector256<sbyte> s) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One);
}
