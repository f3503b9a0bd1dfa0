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
        ref Unsafe.Add(ref a.Quants.Ref, (nint)t * a.Cols);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float Scales(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref a.Scales.Ref, (nint)t * a.ScaleStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref float ScaledSums(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref a.ScaledSums.Ref, (nint)t * a.ScaleStride);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref short Sums16(PreparedActivations a, int t) =>
        ref Unsafe.Add(ref a.Sums16.Ref, (nint)t * a.Blocks * 16);

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

    /// <summary>table[idx[i]] per byte (idx &lt; 16): pshufb / tbl, or the generic shuffle elsewhere.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> Lookup(Vector128<byte> table, Vector128<byte> idx) =>
        Ssse3.IsSupported ? Ssse3.Shuffle(table, idx)
        : System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.IsSupported ? System.Runtime.Intrinsics.Arm.AdvSimd.Arm64.VectorTableLookup(table, idx)
        : Vector128.Shuffle(table, idx);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Load128(ref byte p, nint offset) => Vector128.LoadUnsafe(ref Unsafe.Add(ref p, offset)).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<sbyte> Load128(ref sbyte p, nint offset) => Vector128.LoadUnsafe(ref Unsafe.Add(ref p, offset));

    private static readonly Vector512<ushort> TreeLevel2 = Vector512.Create((ushort)0, 1, 2, 3, 32, 33, 34, 35, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    private static readonly Vector512<ushort> TreeLevel3 = Vector512.Create((ushort)0, 1, 2, 3, 4, 5, 6, 7, 32, 33, 34, 35, 36, 37, 38, 39, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>
    /// The f16 scales of 16 blocks as f32. Pair k starts at <c>g + k·pairStride</c>; a 32-byte load there
    /// (64-byte when <paramref name="wide"/>) holds its two scales at words 0 and <c>second</c> (encoded in
    /// <paramref name="level1"/>). A tree of two-source word permutes (depth 3) rather than a chain of
    /// eight, whose latency held up every FMA of the group.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScalesOf16Blocks(ref byte g, int pairStride, bool wide, Vector512<ushort> level1)
    {
        var a = Avx512BW.PermuteVar32x16x2(PairWords(ref g, 0, wide), level1, PairWords(ref Unsafe.Add(ref g, pairStride), 0, wide));
        var b = Avx512BW.PermuteVar32x16x2(PairWords(ref g, 2 * pairStride, wide), level1, PairWords(ref g, 3 * pairStride, wide));
        var c = Avx512BW.PermuteVar32x16x2(PairWords(ref g, 4 * pairStride, wide), level1, PairWords(ref g, 5 * pairStride, wide));
        var d = Avx512BW.PermuteVar32x16x2(PairWords(ref g, 6 * pairStride, wide), level1, PairWords(ref g, 7 * pairStride, wide));
        var ab = Avx512BW.PermuteVar32x16x2(a, TreeLevel2, b);
        var cd = Avx512BW.PermuteVar32x16x2(c, TreeLevel2, d);
        var all = Avx512BW.PermuteVar32x16x2(ab, TreeLevel3, cd);
        return HalfConversion.FromSignExtended(Avx512F.ConvertToVector512Int32(all.GetLower().AsInt16()));
    }

    private static readonly Vector512<ushort> Quad = Vector512.Create((ushort)0, 9, 18, 27, 32, 41, 50, 59, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>
    /// The f16 scales of 16 consecutive 18-byte blocks (Q4_0) as f32: a 64-byte load at every fourth
    /// block holds four scales (bytes 0, 18, 36, 54) and stays inside the group, so 4 loads and 3
    /// permutes suffice.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ScalesOf16Blocks18(ref byte g)
    {
        var a = Avx512BW.PermuteVar32x16x2(Vector512.LoadUnsafe(ref g).AsUInt16(), Quad, Vector512.LoadUnsafe(ref Unsafe.Add(ref g, 72)).AsUInt16());
        var b = Avx512BW.PermuteVar32x16x2(Vector512.LoadUnsafe(ref Unsafe.Add(ref g, 144)).AsUInt16(), Quad, Vector512.LoadUnsafe(ref Unsafe.Add(ref g, 216)).AsUInt16());
        var all = Avx512BW.PermuteVar32x16x2(a, TreeLevel3, b);
        return HalfConversion.FromSignExtended(Avx512F.ConvertToVector512Int32(all.GetLower().AsInt16()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<ushort> PairWords(ref byte g, int offset, bool wide) => wide
        ? Vector512.LoadUnsafe(ref Unsafe.Add(ref g, offset)).AsUInt16()
        : Vector256.LoadUnsafe(ref Unsafe.Add(ref g, offset)).AsUInt16().ToVector512Unsafe();

    /// <summary>Level-1 indices for <see cref="ScalesOf16Blocks"/>: words 0 and <paramref name="second"/> of both sources.</summary>
    public static Vector512<ushort> TreeLevel1(int second) =>
        Vector512.Create((ushort)0, (ushort)second, 32, (ushort)(32 + second), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /// <summary>u8×s8 products summed over groups of four into int32 lanes (vpmaddubsw + vpmaddwd); pair sums must fit int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<int> DotU8S8(Vector512<byte> u, Vector512<sbyte> s) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(u, s), Vector512<short>.One);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> DotU8S8(Vector256<byte> u, Vector256<sbyte> s) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(u, s), Vector256<short>.One);
}
