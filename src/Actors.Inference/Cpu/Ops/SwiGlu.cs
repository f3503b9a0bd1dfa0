using System.Numerics.Tensors;

namespace Actors.Inference.Cpu.Ops;

/// <summary>h = silu(gate) ⊙ up with silu(x) = x·σ(x); element-wise, so batch-invariant.</summary>
public static class SwiGlu
{
    /// <summary>gate ← silu(gate) ⊙ up; <paramref name="scratch"/> is at least gate's length.</summary>
    public static void ApplyInPlace(Span<float> gate, ReadOnlySpan<float> up, Span<float> scratch)
    {
        var sig = scratch[..gate.Length];
        TensorPrimitives.Sigmoid(gate, sig);
        TensorPrimitives.Multiply(gate, sig, gate);
        TensorPrimitives.Multiply(gate, up, gate);
    }
}
