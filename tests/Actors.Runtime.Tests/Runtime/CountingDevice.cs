using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A CPU device whose last stages count how their logit rows left: whole rows (<see cref="IStageExecutor.Forward"/>
/// with logit rows) or each row's top-k (<see cref="IStageExecutor.ForwardTopK"/>), and the bytes either way.
/// Everything else goes straight to the CPU stage, the top-k capability included.
/// </summary>
public sealed class CountingDevice(string id, int threads = 1) : IComputeDevice
{
    private readonly CpuDevice _inner = new(id, threads);
    private long _logitSteps, _topKSteps, _logitBytes, _topKBytes;

    public long LogitSteps => Interlocked.Read(ref _logitSteps);
    public long TopKSteps => Interlocked.Read(ref _topKSteps);
    /// <summary>Bytes of logits (4 per vocabulary entry and row) and of top-k results (8 per row and k) the last stage returned.</summary>
    public long LogitBytes => Interlocked.Read(ref _logitBytes);
    public long TopKBytes => Interlocked.Read(ref _topKBytes);

    public DeviceDescriptor Descriptor => _inner.Descriptor;
    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) => _inner.EstimateStageBytes(model, layers, kv, maxBatchTokens);
    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) => new Stage(_inner.LoadStage(model, layers, kv, maxBatchTokens), this);
    public void Dispose() => _inner.Dispose();

    private sealed class Stage(IStageExecutor inner, CountingDevice owner) : IStageExecutor
    {
        public LayerRange Layers => inner.Layers;
        public bool IsFirst => inner.IsFirst;
        public bool IsLast => inner.IsLast;
        public int HiddenSize => inner.HiddenSize;
        public int VocabSize => inner.VocabSize;
        public KvCacheSpec Kv => inner.Kv;
        public int KvBlockBytes => inner.KvBlockBytes;
        public int MaxLogitTopK => inner.MaxLogitTopK;

        public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
        {
            inner.Forward(batch, hiddenIn, output);
            if (!IsLast || batch.LogitCount == 0) return;
            Interlocked.Increment(ref owner._logitSteps);
            Interlocked.Add(ref owner._logitBytes, 4L * batch.LogitCount * VocabSize);
        }

        public void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values)
        {
            inner.ForwardTopK(batch, hiddenIn, k, indices, values);
            Interlocked.Increment(ref owner._topKSteps);
            Interlocked.Add(ref owner._topKBytes, 8L * batch.LogitCount * k);
        }

        public void ReadNormedHidden(int token, Span<float> destination) => inner.ReadNormedHidden(token, destination);
        public void ReadKvBlock(int block, Span<byte> destination) => inner.ReadKvBlock(block, destination);
        public void WriteKvBlock(int block, ReadOnlySpan<byte> source) => inner.WriteKvBlock(block, source);
        public void CopyKvBlock(int source, int destination) => inner.CopyKvBlock(source, destination);
        public void Dispose() => inner.Dispose();
    }
}
