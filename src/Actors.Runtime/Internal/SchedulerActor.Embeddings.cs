using Actors.Runtime.Protocol;

namespace Actors.Runtime.Internal;

/// <summary>
/// Embedding requests in the scheduler: they are ordinary sequences whose prompt is prefilled (never from
/// the prefix cache) and which stop after one step of output; the last stage pools their final hidden
/// states, and the vector reaches the request through its stream before the sequence finishes.
/// </summary>
internal sealed partial class SchedulerActor
{
    /// <summary>The first step's setup of a sequence for the last stage, with its pooling when it is an embedding request.</summary>
    private SequenceSetup Setup(long id, SamplingOptions sampling, int[] prompt) =>
        new(id, sampling, prompt, _streams.TryGetValue(id, out var stream) ? stream.Pooling : null);

    /// <summary>Hands each pooled embedding of a completed step to its stream (the final message carries it).</summary>
    private void TakeEmbeddings(StepWork work)
    {
        foreach (var (id, vector) in work.Embeddings)
            if (_streams.TryGetValue(id, out var stream)) stream.Embedding = vector;
    }
}
