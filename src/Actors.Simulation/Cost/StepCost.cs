namespace Actors.Simulation.Cost;

/// <summary>
/// Where one stage's step spends its time, seconds. Parts add up: the model does not overlap
/// communication with compute (Megatron-style TP all-reduces sit on the critical path).
/// </summary>
public sealed record StepCost(
    double MatmulSeconds,
    double AttentionSeconds,
    double ElementwiseSeconds,
    double EmbeddingAndHeadSeconds,
    double LaunchSeconds,
    double CollectiveSeconds,
    double BytesMoved,
    double Flops)
{
    public double ComputeSeconds => MatmulSeconds + AttentionSeconds + ElementwiseSeconds + EmbeddingAndHeadSeconds;
    public double TotalSeconds => ComputeSeconds + LaunchSeconds + CollectiveSeconds;

    public static StepCost Zero { get; } = new(0, 0, 0, 0, 0, 0, 0, 0);
}
