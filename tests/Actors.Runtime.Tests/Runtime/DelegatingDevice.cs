using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A CPU device whose stages call <see cref="BeforeForward"/> before each forward pass: the base of the
/// test devices that fail on cue or record where they run.
/// </summary>
public abstract class DelegatingDevice(string id, int threads = 2) : IComputeDevice
{
    private readonly CpuDevice _inner = new(id, threads);

    public DeviceDescriptor Descriptor => _inner.Descriptor;

    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        _inner.EstimateStageBytes(model, layers, kv, maxBatchTokens);

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        new Stage(_inner.LoadStage(model, layers, kv, maxBatchTokens), this);

    /// <summary>Runs on the stage's thread before every forward pass; may throw to fail the step.</summary>
    protected abstract void BeforeForward(StepBatch batch);

    public void Dispose() => _inner.Dispose();

    private sealed class Stage(IStageExecutor inner, DelegatingDevice owner) : IStageExecutor
    {
        public LayerRange Layers => inner.Layers;
        public bool IsFirst => inner.IsFirst;
        public bool IsLast => inner.IsLast;
        public int HiddenSize => inner.HiddenSize;
        public int VocabSize => inner.VocabSize;
        public KvCacheSpec Kv => inner.Kv;
        public int KvBlockBytes => inner.KvBlockBytes;

        public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
        {
            owner.BeforeForward(batch);
            inner.Forward(batch, hiddenIn, output);
        }

        public void ReadKvBlock(int block, Span<byte> destination) => inner.ReadKvBlock(block, destination);
        public void WriteKvBlock(int block, ReadOnlySpan<byte> source) => inner.WriteKvBlock(block, source);
        public void CopyKvBlock(int source, int destination) => inner.CopyKvBlock(source, destination);
        public void Dispose() => inner.Dispose();
    }
}
