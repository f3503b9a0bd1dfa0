using Actors.Inference.Compute;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A CPU device whose last stages count how their logit rows left: whole rows (<see cref="IStageExecutor.Forward"/>
/// with logit rows) or each row's top-k (<see cref="IStageExecutor.ForwardTopK"/>), and the bytes either way.
/// Everything else goes straight to the CPU stage, the top-k capability included.
/// </summary>
public sealed class CountingDevice(string id, int threads = 1) : DelegatingDevice(id, threads)
{
    private long _logitSteps, _topKSteps, _logitBytes, _topKBytes;

    public long LogitSteps => Interlocked.Read(ref _logitSteps);
    public long TopKSteps => Interlocked.Read(ref _topKSteps);
    /// <summary>Bytes of logits (4 per vocabulary entry and row) and of top-k results (8 per row and k) the last stage returned.</summary>
    public long LogitBytes => Interlocked.Read(ref _logitBytes);
    public long TopKBytes => Interlocked.Read(ref _topKBytes);

    protected override bool PassesTopK => true;

    protected override void AfterForward(StepBatch batch, IStageExecutor stage)
    {
        if (!stage.IsLast || batch.LogitCount == 0) return;
        Interlocked.Increment(ref _logitSteps);
        Interlocked.Add(ref _logitBytes, 4L * batch.LogitCount * stage.VocabSize);
    }

    protected override void AfterForwardTopK(StepBatch batch, int k)
    {
        Interlocked.Increment(ref _topKSteps);
        Interlocked.Add(ref _topKBytes, 8L * batch.LogitCount * k);
    }
}
