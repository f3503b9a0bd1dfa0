using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Horizontal sums with one fixed tree each, so a lane vector always reduces to the same float
/// (batch invariance needs the whole reduction order pinned, not only the lane accumulation).
/// </summary>
internal static class VectorMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(Vector512<float> v) => HSum(v.GetLower() + v.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(Vector256<float> v) => HSum(v.GetLower() + v.GetUpper());

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HSum(Vector128<float> v)
    {
        var a = v + Vector128.Shuffle(v, Vector128.Create(2, 3, 0, 1));
        return (a + Vector128.Shuffle(a, Vector128.Create(1, 0, 3, 2))).ToScalar();
    }
}
