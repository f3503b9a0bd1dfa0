namespace Actors.Runtime.Scheduling;

/// <summary>
/// A generation request as the scheduler sees it: ids, limits and ordering, no sampling parameters
/// (those belong to the sampler).
/// </summary>
/// <param name="Id">Unique among the scheduler's live sequences.</param>
/// <param name="PromptTokens">Prompt token ids; the scheduler copies them at admission.</param>
/// <param name="MaxNewTokens">Tokens to generate at most (at least 1).</param>
/// <param name="Priority">Lower value = more important (as vLLM); equal priorities are served first come, first served.</param>
/// <param name="ArrivalTime">When the request arrived on the caller's monotonic clock; orders requests of equal priority (admission order breaks ties).</param>
public sealed record SequenceRequest(long Id, ReadOnlyMemory<int> PromptTokens, int MaxNewTokens, int Priority = 0, TimeSpan ArrivalTime = default)
{
    /// <summary>Token that ends generation (null: none, only <see cref="MaxNewTokens"/> does).</summary>
    public int? EosTokenId { get; init; }
    /// <summary>Every other end-of-generation token the vocabulary declares (eot, eom, im_end, end_of_turn...); ignored with <see cref="EosTokenId"/>.</summary>
    public int[] EndOfGenerationIds { get; init; } = [];
    /// <summary>Keep generating past <see cref="EosTokenId"/> and <see cref="EndOfGenerationIds"/> (benchmarks, as vLLM's ignore_eos).</summary>
    public bool IgnoreEos { get; init; }
    /// <summary>Tokens the caller asked to stop at; they stop even with <see cref="IgnoreEos"/>.</summary>
    public int[] StopTokenIds { get; init; } = [];
    /// <summary>The sequence's text output, which says when a stop string completed (null: no text stops). It moves with the sequence.</summary>
    public ISequenceOutput? Output { get; init; }
    /// <summary>
    /// Compute every prompt token, never taking a prefix from the cache: an embedding request pools the
    /// hidden state of each prompt token, which a cached block does not have.
    /// </summary>
    public bool SkipPrefixCache { get; init; }
    /// <summary>
    /// Further sequences with the same prompt (parallel sampling, OpenAI's n): this sequence computes the
    /// prompt once, up to all but its last token, then each fork starts from there sharing its KV blocks
    /// (full ones by reference count, the partly filled last one copied when first written). Each fork
    /// then computes the last prompt token itself, so it gets its own logits row and sampler: one extra
    /// token per fork instead of a whole prompt, and nothing in the workers changes.
    /// </summary>
    public SequenceRequest[] Forks { get; init; } = [];
}
