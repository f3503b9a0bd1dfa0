using Actors.Inference.Model;

namespace Actors.Inference.Compute;

public enum DeviceKind
{
    Cpu,
    Cuda,
    Simulated,
}

/// <summary>What a device is and what it can hold, for placement and for `actors topology`.</summary>
public sealed record DeviceDescriptor(string Id, DeviceKind Kind, string Name, long MemoryBytes, int Threads = 1);

/// <summary>
/// A compute device (a CPU socket slice, a GPU, a simulated GPU). It loads stages of a model and
/// runs them; the device actor owns it and calls it only from its own thread.
/// </summary>
public interface IComputeDevice : IDisposable
{
    DeviceDescriptor Descriptor { get; }

    /// <summary>Bytes a stage with these layers and this KV pool would take on the device.</summary>
    long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens);

    IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens);

    /// <summary>Whether its last stages return final hidden states (<see cref="IStageExecutor.ReadNormedHidden"/>), which embeddings need.</summary>
    bool ReturnsHiddenStates => false;

    /// <summary>
    /// Whether its stages keep sliding-window layers' KV in a pool of their own (<see cref="KvCacheSpec.SlidingNumBlocks"/>,
    /// <see cref="StepBatch.SlidingSlots"/>); a runtime with any device that does not gives every layer the main pool.
    /// </summary>
    bool SupportsSlidingWindowPool => false;
}
