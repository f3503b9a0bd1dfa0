namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// h = gelu(gate) ⊙ up with the tanh approximation gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³))),
/// computed as ggml's CPU backend does (GGML_GELU_FP16): x is rounded to f16 and looked up in a table
/// of f16 results; x ≤ −10 gives 0 and x ≥ 10 gives x. Matching that rounding is what keeps gemma's
/// logits within 1e-5 of llama.cpp; the exact function would differ by ~1e-3 per activation.
/// </summary>
public static class GeluGlu
{
    private static readonly float[] Table = BuildTable(); // [65536] gelu of every f16 bit pattern, rounded to f16

    /// <summary>gelu(x) the way ggml's f32 GELU produces it.</summary>
    public static float Gelu(float x)
    {
        if (x <= -10f) return 0f;
        if (x >= 10f) return x;
        return Table[BitConverter.HalfToUInt16Bits((Half)x)];
    }

    /// <summary>gate ← gelu(gate) ⊙ up.</summary>
    public static void ApplyInPlace(Span<float> gate, ReadOnlySpan<float> up)
    {
        var table = Table;
        for (int i = 0; i < gate.Length; i++)
        {
            float x = gate[i];
            float g = x <= -10f ? 0f : x >= 10f ? x : table[BitConverter.HalfToUInt16Bits((Half)x)];
            gate[i] = g * up[i];
        }
    }

    /// <summary>
    /// The formula in float, as llama.cpp's CPU build evaluates ggml_gelu_f32 when building its table:
    /// GCC fused 1 + a·x·x into fma(a·x, x, 1) (without it one entry, x = −1.999, differs).
    /// </summary>
    public static float GeluTanh(float x)
    {
        const float sqrt2OverPi = 0.79788456080286535587989211986876f, coefA = 0.044715f;
        return 0.5f * x * (1.0f + MathF.Tanh(sqrt2OverPi * x * MathF.FusedMultiplyAdd(coefA * x, x, 1.0f)));
    }

    private static float[] BuildTable()
    {
        var t = new float[1 << 16];
        for (int i = 0; i < t.Length; i++)
        {
            float f = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            t[i] = (float)(Half)GeluTanh(f);
        }
        return t;
    }
}
