using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A CPU device whose stages call <see cref="BeforeForward"/> before each forward pass and the after-hooks after it:
/// the base of the test devices that fail on cue or record where and how they run. Its stages return no hidden
/// states, and top-k rows only when <see cref="PassesTopK"/> says so (otherwise steps take whole logit rows).
/// </summary>
public abstract class DelegatingDevice(string id, int threads = 2) : IComputeDevice
{
    private readonly CpuDevice _inner = new(id, threads);

    public DeviceDescriptor Descriptor => _inner.Descriptor;

    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        _inner.EstimateStageBytes(model, layers, kv, maxBatchTokens);

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        new Stage(_inner.LoadStage(model, layers, kv, maxBatchTokens), this);

    /// <summary>Runs on the stage's thread before every forward pass (top-k ones included); may throw to fail the step.</summary>
    protected virtual void BeforeForward(StepBatch batch) { }

    /// <summary>Runs after a forward pass that returned whole rows (logit rows when <paramref name="stage"/> is the last).</summary>
    protected virtual void AfterForward(StepBatch batch, IStageExecutor stage) { }

    /// <summary>Runs after a forward pass that returned each logit row's top <paramref name="k"/>.</summary>
    protected virtual void AfterForwardTopK(StepBatch batch, int k) { }

    /// <summary>Whether the stages offer the CPU stage's top-k rows (<see cref="IStageExecutor.MaxLogitTopK"/>).</summary>
    protected virtual bool PassesTopK => false;

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
        public int MaxLogitTopK => owner.PassesTopK ? inner.MaxLogitTopK : 0;

        public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
        {
            owner.BeforeForward(batch);
            inner.Forward(batch, hiddenIn, output);
            owner.AfterForward(batch, this);
        }

        public void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values)
        {
            if (!owner.PassesTopK) throw new NotSupportedException($"{owner.GetType().Name} does not return top-k logit rows");
            owner.BeforeForward(batch);
            inner.ForwardTopK(batch, hiddenIn, k, indices, values);
            owner.AfterForwardTopK(batch, k);
        }

        public void ReadKvBlock(int block, Span<byte> destination) => inner.ReadKvBlock(block, destination);
        public void WriteKvBlock(int block, ReadOnlySpan<byte> source) => inner.WriteKvBlock(block, source);
        public void CopyKvBlock(int source, int destination) => inner.CopyKvBlock(source, destination);
        public void Dispose() => inner.Dispose();
    }
}
