using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// IEEE binary16 → binary32 without F16C (.NET exposes no vcvtph2ps). The exponent and mantissa bits
/// go where a float's go and the exponent is rebiased with an integer add (+112). Half subnormals
/// (exponent 0, which includes zero) take the exponent of 2^-14 instead and have 2^-14 subtracted,
/// which is exact. No step computes on a float32 subnormal: x86 handles those in microcode, and
/// trained F16 weights hold enough halves below 6.1e-5 that the old multiply-by-2^112 form ran at a
/// quarter of the BF16 kernel's speed in cache.
/// </summary>
internal static class HalfConversion
{
    private const uint ExpMantMask = 0x0FFFE000; // f16 exponent+mantissa after a shift left by 13
    private const uint InfThreshold = 0x0F800000; // f16 exponent 31 after the shift
    private const int NormalBias = 112 << 23;     // f32 bias 127 − f16 bias 15
    private const int SubnormalBias = 113 << 23;  // puts a subnormal's mantissa on 2^-14 · (1 + m/1024)
    private const int MinNormal = 1 << 23;        // shifted f16 exponent 1
    private const float TwoToMinus14 = 1f / 16384;

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

    /// <summary>|value| of halves whose exponent+mantissa bits sit at 13..27 of <paramref name="em"/> (inf/NaN not patched).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Magnitude(Vector512<int> em) => Vector512.ConditionalSelect(
        Vector512.LessThan(em, Vector512.Create(MinNormal)).AsSingle(),
        (em + Vector512.Create(SubnormalBias)).AsSingle() - Vector512.Create(TwoToMinus14),
        (em + Vector512.Create(NormalBias)).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Magnitude(Vector256<int> em) => Vector256.ConditionalSelect(
        Vector256.LessThan(em, Vector256.Create(MinNormal)).AsSingle(),
        (em + Vector256.Create(SubnormalBias)).AsSingle() - Vector256.Create(TwoToMinus14),
        (em + Vector256.Create(NormalBias)).AsSingle());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Magnitude(Vector128<int> em) => Vector128.ConditionalSelect(
        Vector128.LessThan(em, Vector128.Create(MinNormal)).AsSingle(),
        (em + Vector128.Create(SubnormalBias)).AsSingle() - Vector128.Create(TwoToMinus14),
        (em + Vector128.Create(NormalBias)).AsSingle());

    /// <summary>
    /// <see cref="FromSignExtended"/> without the inf/NaN patch: exact for every finite half, three
    /// operations cheaper. Inf/NaN come out finite with magnitude ≥ 65536, which the kernel detects.
    /// Sign-extended input (vpmovsxwd) carries the sign at bit 31 already.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromSignExtendedFinite(Vector512<int> h) =>
        (Magnitude((h << 13) & Vector512.Create((int)ExpMantMask)).AsInt32() | (h & Vector512.Create(int.MinValue))).AsSingle();

    /// <summary>
    /// Converts 16 halves that were sign-extended to 32 bits (vpmovsxwd), exactly, inf and NaN included.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> FromSignExtended(Vector512<int> h)
    {
        var em = (h << 13) & Vector512.Create((int)ExpMantMask);
        var f = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(em, Vector512.Create((int)InfThreshold)).AsSingle(),
            (em | Vector512.Create(0x7F800000)).AsSingle(), Magnitude(em));
        return (f.AsInt32() | (h & Vector512.Create(int.MinValue))).AsSingle();
    }

    /// <summary>The 8-lane form of <see cref="FromSignExtendedFinite(Vector512{int})"/> (AVX2 path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> FromSignExtendedFinite(Vector256<int> h) =>
        (Magnitude((h << 13) & Vector256.Create((int)ExpMantMask)).AsInt32() | (h & Vector256.Create(int.MinValue))).AsSingle();

    /// <summary>Converts 16 halves held in the low 16 bits of each lane (upper bits zero), exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> ToSingle(Vector512<uint> h)
    {
        var em = ((h << 13) & Vector512.Create(ExpMantMask)).AsInt32();
        var f = Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(em, Vector512.Create((int)InfThreshold)).AsSingle(),
            (em | Vector512.Create(0x7F800000)).AsSingle(), Magnitude(em));
        return (f.AsUInt32() | ((h << 16) & Vector512.Create(0x80000000u))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> ToSingle(Vector256<uint> h)
    {
        var em = ((h << 13) & Vector256.Create(ExpMantMask)).AsInt32();
        var f = Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(em, Vector256.Create((int)InfThreshold)).AsSingle(),
            (em | Vector256.Create(0x7F800000)).AsSingle(), Magnitude(em));
        return (f.AsUInt32() | ((h << 16) & Vector256.Create(0x80000000u))).AsSingle();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> ToSingle(Vector128<uint> h)
    {
        var em = ((h << 13) & Vector128.Create(ExpMantMask)).AsInt32();
        var f = Vector128.ConditionalSelect(Vector128.GreaterThanOrEqual(em, Vector128.Create((int)InfThreshold)).AsSingle(),
            (em | Vector128.Create(0x7F800000)).AsSingle(), Magnitude(em));
        return (f.AsUInt32() | ((h << 16) & Vector128.Create(0x80000000u))).AsSingle();
    }
}
