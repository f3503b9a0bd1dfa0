namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// h = silu(gate) ⊙ up with silu(x) = x / (1 + e^−x), bit for bit as llama.cpp's CPU backend computes it
/// (<see cref="GgmlExp"/>); element-wise, so batch-invariant.
/// </summary>
public static class SwiGlu
{
    /// <summary>gate ← silu(gate) ⊙ up.</summary>
    public static void ApplyInPlace(Span<float> gate, ReadOnlySpan<float> up) => GgmlExp.SwiGluInPlace(gate, up);
}
