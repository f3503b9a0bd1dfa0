using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Cli.Validate;

/// <summary>One timed step: which model, which batch, what the backend took and what the roofline says.</summary>
public sealed record ValidationCase(string Model, long WeightBytes, ModelShape Shape, WeightFormat Format, string Step, BatchShape Batch, double MeasuredSeconds)
{
    /// <summary>
    /// The CPU backend keeps activations and its KV cache in F32, so the roofline moves 4 bytes per
    /// element where the GPU default is 2.
    /// </summary>
    public static readonly RooflineCostModel CpuCost = new(new RooflineOptions { ActivationBytes = 4, KvElementBytes = 4 });

    public double PredictedSeconds(GpuSpec device) => Cost(device).TotalSeconds;

    public StepCost Cost(GpuSpec device)
        => CpuCost.StageStep(Shape, Format, new Actors.Inference.Compute.LayerRange(0, Shape.Layers), isFirst: true, isLast: true, Batch, device);

    /// <summary>"memory" when reading the bytes takes longer than the arithmetic at the device's rates, else "compute".</summary>
    public string Bound(GpuSpec device)
    {
        var c = Cost(device);
        return c.BytesMoved / device.EffectiveBandwidth >= c.Flops / device.EffectiveFlops ? "memory" : "compute";
    }
}
