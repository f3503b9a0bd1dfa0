using Actors.Inference.Compute;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu;

/// <summary>
/// A CPU compute device: a set of dedicated worker threads and host memory. Several CPU devices
/// on one machine (each with its own threads) let pipeline and replica layouts run anywhere.
/// </summary>
public sealed class CpuDevice : IComputeDevice
{
    private readonly CpuWorkerPool _pool;

    public DeviceDescriptor Descriptor { get; }

    public bool ReturnsHiddenStates => true;
    public bool SupportsSlidingWindowPool => true;

    public CpuDevice(string id = "cpu:0", int threads = 0, long memoryBytes = 0)
    {
        if (threads < 0) throw new ArgumentOutOfRangeException(nameof(threads), $"threads must be 0 (all cores) or positive, got {threads}");
        threads = threads == 0 ? Environment.ProcessorCount : threads;
        memoryBytes = memoryBytes > 0 ? memoryBytes : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        Descriptor = new DeviceDescriptor(id, DeviceKind.Cpu, $"CPU ({threads} threads)", memoryBytes, threads);
        _pool = new CpuWorkerPool(threads, id.Replace(':', '-'));
    }

    /// <summary>Weights are memory-mapped (the OS pages them in), so a stage's own memory is its KV pool and scratch.</summary>
    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens)
    {
        var c = model.Config;
        long scratch = 4L * maxBatchTokens * (5L * c.EmbeddingLength + 3L * c.QueryDim + 3L * c.FeedForwardLength);
        return kv.TotalBytes(c, layers) + scratch + model.WeightBytes(layers.Start, layers.End, layers.Start == 0, layers.End == c.BlockCount);
    }

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        new CpuStageExecutor(model, layers, kv, maxBatchTokens, _pool);

    public void Dispose() => _pool.Dispose();
}
