using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// IEEE binary16 → binary32 without F16C (.NET exposes no vcvtph2ps). The vector form places the
/// exponent and mantissa bits where a float's go and multiplies by 2^112, which rebiases the exponent
/// and turns f16 subnormals into normal floats exactly; inf and NaN are patched with a compare.
/// </summary>
internal static class HalfConversion
{
    private const uint ExpMantMask = 0x0FFFE000; // f16 exponent+mantissa after a shift left by 13
    private const uint InfThreshold = 0x0F800000; // f16 exponent 31 after the shift
    private static readonly float Rebias = BitConverter.UInt32BitsToSingle((127u + 112u) << 23); // 2^112

    /// <summary>Every f16 bit pattern's value: scalar scale conversion is one load (256 KiB, only hot lines stay cached).</summary>
    private static readonly float[] Table = BuildTable();

    private static float[] BuildTable()
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++) t[i] = (float)BitConverter.UInt16BitsToHalf((ushort)i);
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(Table), bits);

    /// <summary>
    /// <see cref="FromSignExtended"/> without the inf/NaN patch: exact for every finite half, three
    /// operations cheaper. Inf/NaN come out finite with magnitude ≥ 65536, which the kernel detects.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromSignExtendedFinite(Vector512<int> h) =>
        ((h << 13) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector512.Create(Rebias);

    /// <summary>
    /// Converts 16 halves that were sign-extended to 32 bits (vpmovsxwd): shifting left by 13 puts the
    /// sign at bit 31 and exponent+mantissa at bits 13..27, so one mask and the 2^112 multiply finish
    /// the job (the multiply keeps the sign). Two operations fewer than the zero-extended form.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromSignExtended(Vector512<int> h)
    {
        var bits = (h << 13) & Vector512.Create(unchecked((int)0x8FFFE000));
        var f = bits.AsSingle() * Vector512.Create(Rebias);
        // f16 exponent 31 (inf/NaN): give the f32 the all-ones exponent, keeping sign and mantissa.
        var em = bits & Vector512.Create(0x0FFFE000);
        return Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(em, Vector512.Create((int)InfThreshold)).AsSingle(),
            (bits | Vector512.Create(0x7F800000)).AsSingle(), f);
    }

    /// <summary>The 8-lane form of <see cref="FromSignExtendedFinite(Vector512{int})"/> (AVX2 path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FromSignExtendedFinite(Vector256<int> h) =>
        ((h << 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(Rebias);

    /// <summary>Converts 16 halves held in the low 16 bits of each lane (upper bits zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        var em = (h << 13) & Vector512.Create(ExpMantMask);
        var f = em.AsSingle() * Vector512.Create(Rebias);
        f = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(em, Vector512.Create(InfThreshold)).AsSingle(),
            (em | Vector512.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h << 16) & Vector512.Create(0x80000000u))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var em = (h << 13) & Vector256.Create(ExpMantMask);
        var f = em.AsSingle() * Vector256.Create(Rebias);
        f = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(em, Vector256.Create(InfThreshold)).AsSingle(),
            (em | Vector256.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h << 16) & Vector256.Create(0x80000000u))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> h)
    {
        var em = (h << 13) & Vector128.Create(ExpMantMask);
        var f = em.AsSingle() * Vector128.Create(Rebias);
        f = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(em, Vector128.Create(InfThreshold)).AsSingle(),
            (em | Vector128.Create(0x7F800000u)).AsSingle(), f);
        return (f.AsUInt32() | ((h << 16) & Vector128.Create(0x80000000u))).AsSingle();
    }
}
