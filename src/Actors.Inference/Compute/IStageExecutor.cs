namespace Actors.Inference.Compute;

/// <summary>
/// The layers [Layers.Start, Layers.End) of one model on one device, with their slice of the paged KV
/// cache. The first stage embeds the batch's token ids; every other stage takes hidden states from
/// the previous one. The last stage applies the final norm and head to the batch's logit rows.
/// Calls come from one thread at a time (the owning device actor's).
/// </summary>
public interface IStageExecutor : IDisposable
{
    LayerRange Layers { get; }
    bool IsFirst { get; }
    bool IsLast { get; }
    int HiddenSize { get; }
    int VocabSize { get; }
    KvCacheSpec Kv { get; }

    /// <summary>
    /// Runs the batch through this stage's layers. <paramref name="hiddenIn"/> is [TokenCount, HiddenSize]
    /// (ignored by the first stage). <paramref name="output"/> receives [TokenCount, HiddenSize] hidden
    /// states, or, for the last stage, [LogitCount, VocabSize] logits.
    /// </summary>
    void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output);

    /// <summary>
    /// The last stage's final-norm hidden state (the model's output norm applied, the head's input) of token
    /// <paramref name="token"/> of the batch just run by <see cref="Forward"/>, into <paramref name="destination"/>
    /// [HiddenSize]: what embeddings pool.
    /// </summary>
    void ReadNormedHidden(int token, Span<float> destination) =>
        throw new NotSupportedException($"{GetType().Name} does not return hidden states, so it cannot compute embeddings");

    /// <summary>
    /// The largest k <see cref="ForwardTopK"/> takes on this stage; 0 when it cannot return top-k rows (a middle
    /// stage, or a backend without the capability), and the runtime then always asks for whole logit rows.
    /// </summary>
    int MaxLogitTopK => 0;

    /// <summary>
    /// As <see cref="Forward"/> on the last stage, but instead of the [LogitCount, VocabSize] logits only each
    /// row's <paramref name="k"/> largest logits come back: <paramref name="indices"/> and <paramref name="values"/>
    /// are [LogitCount, k], best first, equal values to the smaller id, +inf the largest. A row holding NaN reports
    /// (its first NaN's id, NaN) in every slot, on every backend (<see cref="Actors.Inference.Sampling.LogitTopK"/>), so the caller
    /// rejects the row as the sampler rejects such logits. 8·k bytes per row instead of 4·VocabSize: what greedy
    /// decoding and top-k sampling need, computed where the logits are.
    /// </summary>
    void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values) =>
        throw new NotSupportedException($"{GetType().Name} does not return top-k logit rows (MaxLogitTopK is 0)");

    /// <summary>Floats <see cref="Forward"/> writes for this batch.</summary>
    int OutputLength(StepBatch batch) => IsLast ? batch.LogitCount * VocabSize : batch.TokenCount * HiddenSize;

    /// <summary>Bytes of one KV block across this stage's layers (the unit of swap and migration).</summary>
    int KvBlockBytes { get; }

    /// <summary>Copies a block's K and V (all of this stage's layers) out, e.g. to swap it to host memory.</summary>
    void ReadKvBlock(int block, Span<byte> destination);

    /// <summary>Overwrites a block's K and V with bytes from <see cref="ReadKvBlock"/>.</summary>
    void WriteKvBlock(int block, ReadOnlySpan<byte> source);

    /// <summary>Copies block <paramref name="source"/> onto <paramref name="destination"/> (copy-on-write).</summary>
    void CopyKvBlock(int source, int destination);

    /// <summary>
    /// Copies block <paramref name="source"/> of the sliding-window layers' own pool (<see cref="KvCacheSpec.SlidingNumBlocks"/>)
    /// onto <paramref name="destination"/> (copy-on-write of a block two forks share); only stages with such a pool.
    /// </summary>
    void CopySlidingKvBlock(int source, int destination) =>
        throw new NotSupportedException($"{GetType().Name} keeps no separate sliding-window KV pool");
}
