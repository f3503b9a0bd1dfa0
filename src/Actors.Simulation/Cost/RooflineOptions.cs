namespace Actors.Simulation.Cost;

/// <summary>
/// Knobs of the roofline model that belong to the runtime rather than the hardware. Defaults are
/// what this runtime does (F16 KV and activations) and what the catalog's launch overhead was
/// calibrated with (12 kernels per layer).
/// </summary>
public sealed record RooflineOptions
{
    /// <summary>KV cache element size: 2 for F16 (the default), 4 for F32.</summary>
    public int KvElementBytes { get; init; } = 2;

    /// <summary>Hidden-state element size on the wire and between kernels: 2 for F16; llama.cpp keeps F32 (4).</summary>
    public int ActivationBytes { get; init; } = 2;

    /// <summary>
    /// Kernels per transformer layer: 5 for matmuls (fused qkv, o, fused gate/up, down, plus one for
    /// the quantized-activation or split-K pass), 2 for attention (KV append, attention), 5 for norms,
    /// RoPE, activation and residual adds. Fusing backends run fewer; eager llama.cpp runs ~19.
    /// </summary>
    public int MatmulKernelsPerLayer { get; init; } = 5;
    public int AttentionKernelsPerLayer { get; init; } = 2;
    public int ElementwiseKernelsPerLayer { get; init; } = 5;

    /// <summary>
    /// Fixed cost of one step of a collective on top of the link latency: the kernel that copies and
    /// reduces and the flag or barrier it waits on. vLLM's custom all-reduce and NCCL's LL protocol
    /// spend a few µs here; NCCL's small-message floor is 10-25 µs per all-reduce
    /// (shared/reference/hardware-and-gguf.md A5).
    /// </summary>
    public double CollectiveStepOverheadSeconds { get; init; } = 3e-6;

    public int KernelsPerLayer => MatmulKernelsPerLayer + AttentionKernelsPerLayer + ElementwiseKernelsPerLayer;

    public static RooflineOptions Default { get; } = new();
}
