namespace Actors.Simulation.Catalog;

/// <summary>
/// One accelerator (or a CPU treated as one) as the roofline model sees it. Rates are in SI units
/// (bytes/s, FLOP/s, seconds) so cost formulas need no conversions; the catalog keeps human units.
/// </summary>
public sealed record GpuSpec
{
    public required string Name { get; init; }
    /// <summary>Physical memory.</summary>
    public required long MemoryBytes { get; init; }
    /// <summary>Taken by the driver context and library workspaces before the runtime allocates anything.</summary>
    public required long ReservedBytes { get; init; }
    /// <summary>Datasheet memory bandwidth, bytes/s.</summary>
    public required double MemoryBandwidth { get; init; }
    /// <summary>Dense FP16 tensor FLOP/s with FP32 accumulation (what frameworks use).</summary>
    public required double Fp16Flops { get; init; }
    public required double Bf16Flops { get; init; }
    /// <summary>Dense INT8 tensor ops/s; 0 when not given (CPU template).</summary>
    public double Int8Ops { get; init; }
    /// <summary>Fraction of <see cref="MemoryBandwidth"/> that streaming kernels reach.</summary>
    public required double MemoryEfficiency { get; init; }
    /// <summary>Fraction of <see cref="Fp16Flops"/> that large GEMMs reach.</summary>
    public required double ComputeEfficiency { get; init; }
    /// <summary>Host-side cost of one kernel launch, seconds.</summary>
    public required double LaunchOverheadSeconds { get; init; }
    /// <summary>Name of the NVLink link kind the card takes (a pair bridge or NVSwitch), or null.</summary>
    public string? NvLink { get; init; }
    /// <summary>Name of the link copies between two of these cards take without NVLink (PCIe P2P or host-staged).</summary>
    public required string Pcie { get; init; }
    public bool IsCpu { get; init; }

    /// <summary>
    /// Matmul kernels per weight format where the plain roofline is too coarse (CPUs: tiles of tokens,
    /// integer dot products for quantized formats, float FMAs for F32/F16), with measured rates that
    /// the efficiencies do not scale. Formats not listed, and every GPU, use <see cref="Fp16Flops"/>
    /// for all tokens.
    /// </summary>
    public IReadOnlyDictionary<string, MatmulKernel> MatmulKernels { get; init; } = new Dictionary<string, MatmulKernel>();

    /// <summary>
    /// Measured rate of the attention kernel with K and V in cache, FLOP/s counted as the roofline
    /// counts them (4·query width per query-key pair); 0 when not measured (GPUs). Where given,
    /// attention's arithmetic runs at this rate instead of <see cref="EffectiveFlops"/>: a CPU's
    /// attention is short dot products, far from its FMA peak.
    /// </summary>
    public double AttentionFlops { get; init; }

    /// <summary>
    /// Measured rate of the elementwise operations (norms, RoPE, SiLU·up, residual adds), bytes of
    /// activation traffic per second; 0 when not measured. Where given it replaces
    /// <see cref="EffectiveBandwidth"/> for them: on a CPU their activations stay in cache, and the
    /// exponentials of SiLU cost arithmetic, so DRAM bandwidth says little about them.
    /// </summary>
    public double ElementwiseBandwidth { get; init; }

    /// <summary>Bytes the runtime may place weights, KV and workspaces in.</summary>
    public long UsableBytes => MemoryBytes - ReservedBytes;
    public double EffectiveBandwidth => MemoryBandwidth * MemoryEfficiency;
    public double EffectiveFlops => Fp16Flops * ComputeEfficiency;

    /// <summary>
    /// Seconds to read <paramref name="bytes"/> of weights in <paramref name="format"/>, in rows of
    /// <paramref name="rowLength"/>: the kernel's measured streaming rate, when it has one, else the
    /// plain bandwidth at <see cref="MemoryEfficiency"/>.
    /// </summary>
    public double WeightReadSeconds(WeightFormat format, double bytes, int rowLength = 0)
        => MatmulKernels.TryGetValue(format.Name, out var kernel) && kernel.At(rowLength).StreamBandwidth is > 0 and var stream
            ? bytes / stream
            : bytes / EffectiveBandwidth;

    /// <summary>Seconds of matmul arithmetic: <paramref name="weights"/> weights in <paramref name="format"/> times <paramref name="tokens"/> tokens (a kernel's measured rates, else the roofline peak at <see cref="ComputeEfficiency"/>).</summary>
    public double MatmulComputeSeconds(WeightFormat format, double weights, double tokens, int rowLength = 0)
        => MatmulKernels.TryGetValue(format.Name, out var kernel)
            ? kernel.ComputeSeconds(weights, tokens, rowLength)
            : 2 * weights * tokens / EffectiveFlops;

    /// <summary>
    /// Seconds of attention that moves <paramref name="bytes"/> and computes <paramref name="flops"/>:
    /// the roofline, with the measured attention rate (<see cref="AttentionFlops"/>) where there is one.
    /// </summary>
    public double AttentionSeconds(double bytes, double flops)
        => Math.Max(bytes / EffectiveBandwidth, flops / (AttentionFlops > 0 ? AttentionFlops : EffectiveFlops));

    /// <summary>Seconds of elementwise work moving <paramref name="bytes"/>: at <see cref="ElementwiseBandwidth"/> where measured, else the effective bandwidth.</summary>
    public double ElementwiseSeconds(double bytes) => bytes / (ElementwiseBandwidth > 0 ? ElementwiseBandwidth : EffectiveBandwidth);

    /// <summary>A copy with ideal efficiency and no launch cost: the pure roofline, for hand-checked tests.</summary>
    public GpuSpec Ideal() => this with { MemoryEfficiency = 1, ComputeEfficiency = 1, LaunchOverheadSeconds = 0 };
}
