using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Quantization;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// How one float weight type turns into f32 lanes. <see cref="FloatKernels{TW}"/> is specialised per
/// struct, so each load inlines into the dot loops. Offsets are element indices into the row.
/// </summary>
internal interface IFloatWeights
{
    /// <summary>
    /// True when <see cref="Load512"/> and <see cref="Load256"/> map inf/NaN to finite values of magnitude
    /// ≥ 65536 (the fast F16 conversion); the kernel then tracks max |w| and redoes a row that reached it
    /// exactly. (<see cref="Load128"/> and <see cref="Load1"/> are always exact.)
    /// </summary>
    static abstract bool FastLoad512 { get; }

    static abstract Vector512<float> Load512(ref byte row, nuint i);
    static abstract Vector256<float> Load256(ref byte row, nuint i);
    static abstract Vector128<float> Load128(ref byte row, nuint i);
    static abstract float Load1(ref byte row, nuint i);
}

internal struct F32Weights : IFloatWeights
{
    public static bool FastLoad512 => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref byte row, nuint i) => Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref row), i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref byte row, nuint i) => Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref row), i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(ref byte row, nuint i) => Vector128.LoadUnsafe(ref Unsafe.As<byte, float>(ref row), i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(ref byte row, nuint i) => Unsafe.Add(ref Unsafe.As<byte, float>(ref row), i);
}

/// <summary>
/// IEEE half weights: widen 16-bit lanes, then <see cref="HalfConversion"/>. The 512-bit load skips the
/// inf/NaN patch (a third of its cost); <see cref="FloatKernel{TW}"/> tracks max |w| as it goes and
/// recomputes a row that holds inf/NaN with <see cref="F16ExactWeights"/>.
/// </summary>
internal struct F16Weights : IFloatWeights
{
    public static bool FastLoad512 => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref byte row, nuint i) =>
        HalfConversion.FromSignExtendedFinite(Avx512F.ConvertToVector512Int32(Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref row), i)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref byte row, nuint i) =>
        HalfConversion.FromSignExtendedFinite(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.As<byte, short>(ref row), i)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256Exact(ref byte row, nuint i) =>
        HalfConversion.ToSingle(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.As<byte, ushort>(ref row), i)).AsUInt32());
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(ref byte row, nuint i) =>
        HalfConversion.ToSingle(Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref row, 2 * i))).AsUInt16()));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(ref byte row, nuint i) => HalfConversion.ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref row, 2 * i)));
}

/// <summary>bfloat16 weights: the f32 bits are the 16 stored bits shifted up (AVX512_BF16 is not exposed by .NET).</summary>
internal struct BF16Weights : IFloatWeights
{
    public static bool FastLoad512 => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref byte row, nuint i) =>
        (Avx512F.ConvertToVector512UInt32(Vector256.LoadUnsafe(ref Unsafe.As<byte, ushort>(ref row), i)) << 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref byte row, nuint i) =>
        (Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref Unsafe.As<byte, ushort>(ref row), i)).AsUInt32() << 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(ref byte row, nuint i) =>
        (Vector128.WidenLower(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref row, 2 * i))).AsUInt16()) << 16).AsSingle();
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(ref byte row, nuint i) => BFloat16.ToSingle(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref row, 2 * i)));
}

/// <summary>F16 with the inf/NaN-exact 512-bit conversion, for the rare rows that contain them.</summary>
internal struct F16ExactWeights : IFloatWeights
{
    public static bool FastLoad512 => false;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load512(ref byte row, nuint i) =>
        HalfConversion.FromSignExtended(Avx512F.ConvertToVector512Int32(Vector256.LoadUnsafe(ref Unsafe.As<byte, short>(ref row), i)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load256(ref byte row, nuint i) => F16Weights.Load256Exact(ref row, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> Load128(ref byte row, nuint i) => F16Weights.Load128(ref row, i);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Load1(ref byte row, nuint i) => F16Weights.Load1(ref row, i);
}
