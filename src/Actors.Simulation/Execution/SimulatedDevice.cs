using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Simulation;

/// <summary>
/// A GPU that exists only in the cost model. It accounts memory like a real device (weights of
/// every loaded stage, their KV pools and step workspaces), refuses a stage that does not fit
/// naming the stage and both byte counts, and hands out <see cref="SimulatedStageExecutor"/>s.
/// Besides the <see cref="IComputeDevice"/> calls (which take a model with weights and use only its
/// shape and weight sizes), shape-only overloads take a <see cref="ModelShape"/> and a format.
/// </summary>
public sealed class SimulatedDevice : IComputeDevice
{
    private readonly Dictionary<SimulatedStageExecutor, long> _stages = [];

    public DeviceDescriptor Descriptor { get; }
    public GpuSpec Gpu { get; }
    public RooflineCostModel CostModel { get; }
    public SyntheticOutput Output { get; }
    public long AllocatedBytes => _stages.Values.Sum();
    public long AvailableBytes => Gpu.UsableBytes - AllocatedBytes;

    public SimulatedDevice(string id, GpuSpec gpu, RooflineCostModel? cost = null, SyntheticOutput? output = null)
    {
        Gpu = gpu;
        CostModel = cost ?? new RooflineCostModel();
        Output = output ?? new SyntheticOutput();
        Descriptor = new DeviceDescriptor(id, DeviceKind.Simulated, gpu.Name, gpu.UsableBytes);
    }

    /// <summary>
    /// Bytes a stage takes: its weights (embedding on the first stage, head on the last), its KV pool,
    /// and workspace for <paramref name="maxBatchTokens"/> tokens (activations of the widest layer
    /// plus F32 logits on the last stage).
    /// </summary>
    public long EstimateStageBytes(ModelShape model, WeightFormat weights, LayerRange layers, KvCacheSpec kv, int maxBatchTokens, int tensorParallel = 1)
    {
        bool first = layers.Start == 0, last = layers.End == model.Layers;
        long w = RooflineCostModel.StageWeightBytes(model, weights, layers, first, last, tensorParallel);
        return w + kv.TotalBytes(model.Config, layers) + StageMemory.WorkspaceBytes(model, CostModel.Options, maxBatchTokens, last, tensorParallel);
    }

    /// <summary>The scheduler's sliding-window pool needs nothing of a simulated stage beyond its memory (its KV is not kept).</summary>
    public bool SupportsSlidingWindowPool => true;

    /// <summary>The weight format to cost a <see cref="LlamaModel"/> with instead of its tensors' types (shape-only models).</summary>
    public WeightFormat? WeightFormatOverride { get; init; }

    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens)
        => EstimateStageBytes(ShapeOf(model), WeightFormatOverride ?? FormatOf(model, layers), layers, kv, maxBatchTokens);

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens)
        => LoadStage(ShapeOf(model), WeightFormatOverride ?? FormatOf(model, layers), layers, kv, maxBatchTokens);

    /// <summary>Loads a shape-only stage; throws <see cref="InsufficientDeviceMemoryException"/> when it does not fit.</summary>
    public SimulatedStageExecutor LoadStage(ModelShape model, WeightFormat weights, LayerRange layers, KvCacheSpec kv, int maxBatchTokens,
        int tensorParallel = 1, LinkSpec? tensorLink = null)
    {
        long need = EstimateStageBytes(model, weights, layers, kv, maxBatchTokens, tensorParallel);
        long available = AvailableBytes;
        if (need > available)
            throw new InsufficientDeviceMemoryException($"stage {layers} of {model.Name} ({weights.Name}, {kv.NumBlocks} KV blocks)", $"{Descriptor.Id} ({Gpu.Name})", need, available);
        var stage = new SimulatedStageExecutor(model, weights, layers, kv, Gpu, CostModel, Output, tensorParallel, tensorLink, s => _stages.Remove(s));
        _stages[stage] = need;
        return stage;
    }

    public SimulatedStageExecutor LoadStage(LlamaConfig config, WeightFormat weights, LayerRange layers, KvCacheSpec kv, int maxBatchTokens)
        => LoadStage(new ModelShape("model", config), weights, layers, kv, maxBatchTokens);

    private static ModelShape ShapeOf(LlamaModel model) => new(model.Name, model.Config);

    /// <summary>The average bits per weight of the stage's matrices as stored in the file.</summary>
    private static WeightFormat FormatOf(LlamaModel model, LayerRange layers)
    {
        long bytes = 0, weights = 0;
        for (int l = layers.Start; l < layers.End; l++)
            foreach (var m in model.Layers[l].Matrices)
            {
                bytes += m.ByteSize;
                weights += (long)m.Rows * m.Cols;
            }
        return new WeightFormat($"{model.Layers[layers.Start].Query.Type} (from file)", 8.0 * bytes / weights);
    }

    public void Dispose()
    {
        foreach (var s in _stages.Keys.ToArray()) s.Dispose();
    }
}
