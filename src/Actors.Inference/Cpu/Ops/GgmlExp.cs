using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// e^x as ggml's AVX-512 CPU backend computes it (ggml_v_expf, the build llama.cpp runs on this CPU):
/// n = round(x·log2 e) by the 1.5·2²³ trick, b = x − n·ln2 in two parts, a degree-5 polynomial j ≈ e^b
/// with the 1 folded in by an FMA, then j·2ⁿ (vscalefps); |n| &gt; 192 gives 0 or ∞. Every step is one
/// IEEE operation, so the vector and the per-lane scalar versions give the same bits, and activations
/// computed with it (SiLU) round to the same int8 values as llama.cpp's when quantized.
/// Its error is about 2 ulp (2.2 measured), so it is not <see cref="MathF.Exp"/>.
/// </summary>
public static class GgmlExp
{
    private static float F(uint bits) => BitConverter.UInt32BitsToSingle(bits);

    private static readonly float Shift = F(0x4b400000);     // 1.5·2²³
    private static readonly float Log2E = F(0x3fb8aa3b);
    private static readonly float Ln2Lo = F(0x35bfbe8e);
    private static readonly float Ln2Hi = F(0x3f317200);
    private static readonly float C5 = F(0x3c072010), C4 = F(0x3d2b9f17), C3 = F(0x3e2aaf33), C2 = F(0x3efffedb), C1 = F(0x3f7ffff6);

    /// <summary>One lane of <see cref="Exp(Vector512{float})"/>.</summary>
    public static float Exp(float x)
    {
        float z = MathF.FusedMultiplyAdd(x, Log2E, Shift);
        float n = z - Shift;
        float b = MathF.FusedMultiplyAdd(-n, Ln2Lo, MathF.FusedMultiplyAdd(-n, Ln2Hi, x));
        float u = b * b;
        float j = MathF.FusedMultiplyAdd(
            MathF.FusedMultiplyAdd(MathF.FusedMultiplyAdd(C5, b, C4), u, MathF.FusedMultiplyAdd(C3, b, C2)),
            u,
            MathF.FusedMultiplyAdd(C1, b, 1f));
        if (MathF.Abs(n) > 192f) return n <= 0 ? 0f : float.PositiveInfinity;
        return MathF.ScaleB(j, (int)n);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Exp(Vector512<float> x)
    {
        var shift = Vector512.Create(Shift);
        var z = Vector512.FusedMultiplyAdd(x, Vector512.Create(Log2E), shift);
        var n = z - shift;
        var b = Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Lo), Vector512.FusedMultiplyAdd(-n, Vector512.Create(Ln2Hi), x));
        var u = b * b;
        var j = Vector512.FusedMultiplyAdd(
            Vector512.FusedMultiplyAdd(
                Vector512.FusedMultiplyAdd(Vector512.Create(C5), b, Vector512.Create(C4)), u,
                Vector512.FusedMultiplyAdd(Vector512.Create(C3), b, Vector512.Create(C2))),
            u,
            Vector512.FusedMultiplyAdd(Vector512.Create(C1), b, Vector512<float>.One));
        var res = Avx512F.Scale(j, n);
        var far = Vector512.GreaterThan(Vector512.Abs(n), Vector512.Create(192f));
        if (far == Vector512<float>.Zero) return res;
        var alt = Vector512.ConditionalSelect(Vector512.LessThanOrEqual(n, Vector512<float>.Zero), Vector512<float>.Zero, Vector512.Create(float.PositiveInfinity));
        return Vector512.ConditionalSelect(far, alt, res);
    }

    /// <summary>
    /// h = silu(gate) ⊙ up as ggml_vec_swiglu_f32: silu(x) = x / (1 + e^−x) with the exp above on every
    /// full 16-lane chunk, and libm's expf on the tail, as ggml's scalar remainder does.
    /// </summary>
    public static void SwiGluInPlace(Span<float> gate, ReadOnlySpan<float> up)
    {
        int i = 0, chunks = gate.Length & ~15;
        if (Avx512F.IsSupported)
        {
            for (; i < chunks; i += 16)
            {
                var x = Vector512.Create<float>(gate.Slice(i, 16));
                var s = x / (Vector512<float>.One + Exp(-x));
                (s * Vector512.Create(up.Slice(i, 16))).CopyTo(gate.Slice(i, 16));
            }
        }
        else
        {
            for (; i < chunks; i++) gate[i] = gate[i] / (1f + Exp(-gate[i])) * up[i];
        }
        for (; i < gate.Length; i++) gate[i] = gate[i] / (1f + MathF.Exp(-gate[i])) * up[i];
    }
}
