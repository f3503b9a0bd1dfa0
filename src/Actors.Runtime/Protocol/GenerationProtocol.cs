using MessagePack;

namespace Actors.Runtime.Protocol;

/// <summary>How to pick tokens. Defaults are "off"; Temperature 0 means greedy.</summary>
[MessagePackObject]
public sealed record SamplingOptions
{
    [Key(0)] public float Temperature { get; init; } = 1.0f;
    [Key(1)] public int TopK { get; init; }
    [Key(2)] public float TopP { get; init; } = 1.0f;
    [Key(3)] public float MinP { get; init; }
    [Key(4)] public float RepetitionPenalty { get; init; } = 1.0f;
    [Key(5)] public int RepeatLastN { get; init; } = 64;
    [Key(6)] public float PresencePenalty { get; init; }
    [Key(7)] public float FrequencyPenalty { get; init; }
    /// <summary>Seed for reproducible sampling; null picks one at random.</summary>
    [Key(8)] public ulong? Seed { get; init; }
    [Key(9)] public string[] StopSequences { get; init; } = [];
    [Key(10)] public int[] StopTokenIds { get; init; } = [];
    [Key(11)] public bool IgnoreEos { get; init; }
    /// <summary>Return the log-probability of each chosen token.</summary>
    [Key(12)] public bool LogProbs { get; init; }
    /// <summary>Also return this many most likely tokens per position with their log-probabilities (0-20); needs <see cref="LogProbs"/>.</summary>
    [Key(13)] public int TopLogProbs { get; init; }
    /// <summary>OpenAI's logit_bias: token id → bias in [-100, 100] added to its logit before sampling (-100 bans, +100 forces).</summary>
    [Key(14)] public Dictionary<int, float>? LogitBias { get; init; }
    /// <summary>
    /// Draws of the seed's generator already used (one per token sampled with temperature &gt; 0): a request
    /// resumed elsewhere with its earlier output in the prompt continues the same random sequence, so a
    /// seeded run gives the same tokens as without the interruption. 0 for a new request.
    /// </summary>
    [Key(15)] public long RandomDraws { get; init; }

    public static SamplingOptions Greedy => new() { Temperature = 0 };
}

/// <summary>
/// Asks the runtime to generate a continuation. Exactly one of <see cref="Prompt"/> (text, tokenized
/// by the model's tokenizer) or <see cref="PromptTokens"/> is given. The sender receives
/// <see cref="TokenChunk"/>s, then one <see cref="GenerationCompleted"/>, or one <see cref="GenerationRejected"/>.
/// </summary>
[MessagePackObject]
public sealed record Generate : IRuntimeMessage
{
    /// <summary>The caller's id; echoed in every reply and used by <see cref="Cancel"/>.</summary>
    [Key(0)] public required string RequestId { get; init; }
    [Key(1)] public string? Prompt { get; init; }
    [Key(2)] public int[]? PromptTokens { get; init; }
    /// <summary>Most tokens to generate; null takes actors-runtime.request.default-max-tokens.</summary>
    [Key(3)] public int? MaxTokens { get; init; }
    [Key(4)] public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Lower values are served first (vLLM's convention); ties by arrival.</summary>
    [Key(5)] public int Priority { get; init; }
    /// <summary>When the request must be finished; past it the request ends with finish reason Deadline.</summary>
    [Key(6)] public DateTime? DeadlineUtc { get; init; }
    /// <summary>Prepend the model's BOS token to a text prompt (when the model asks for it).</summary>
    [Key(7)] public bool AddBos { get; init; } = true;
    /// <summary>Read special-token text in a text prompt (e.g. "&lt;|eot_id|&gt;" from a chat template) as those tokens.</summary>
    [Key(8)] public bool ParseSpecialTokens { get; init; }
    /// <summary>
    /// Set: an embedding request. The prompt is only prefilled (no token is returned) and
    /// <see cref="GenerationCompleted.Embedding"/> carries the model's final-norm hidden states pooled this
    /// way and L2-normalized. Sampling options and max tokens are ignored.
    /// </summary>
    [Key(9)] public EmbeddingPooling? Pooling { get; init; }
}

/// <summary>How an embedding request pools the final-norm hidden states of its prompt's tokens (llama.cpp's pooling types).</summary>
public enum EmbeddingPooling
{
    /// <summary>The average over every prompt token.</summary>
    Mean = 0,
    /// <summary>The last prompt token's (for causal embedding models trained that way).</summary>
    Last = 1,
}

/// <summary>Cancels a request by its id; the requester then receives GenerationCompleted with reason Cancelled.</summary>
[MessagePackObject]
public sealed record Cancel([property: Key(0)] string RequestId) : IRuntimeMessage;

/// <summary>A token and its log-probability (one of a position's most likely alternatives).</summary>
[MessagePackObject]
public sealed record TokenLogProb([property: Key(0)] int TokenId, [property: Key(1)] float LogProb);

/// <summary>New tokens of a request and the text they complete (UTF-8 sequences are never split).</summary>
/// <param name="LogProbs">The chosen tokens' log-probabilities, when the request asked (<see cref="SamplingOptions.LogProbs"/>).</param>
/// <param name="TopLogProbs">Per token, the most likely alternatives, most likely first (<see cref="SamplingOptions.TopLogProbs"/>).</param>
[MessagePackObject]
public sealed record TokenChunk(
    [property: Key(0)] string RequestId,
    [property: Key(1)] int Index,
    [property: Key(2)] int[] TokenIds,
    [property: Key(3)] string Text,
    [property: Key(4)] float[]? LogProbs,
    [property: Key(5)] TokenLogProb[][]? TopLogProbs = null) : IRuntimeMessage;

public enum FinishReason
{
    /// <summary>End of sequence token, a stop token or a stop sequence.</summary>
    Stop = 0,
    /// <summary>max tokens or the context length reached.</summary>
    Length = 1,
    Cancelled = 2,
    Deadline = 3,
    /// <summary>A fault ended it (a device step, non-finite logits, a failed replica); <see cref="GenerationCompleted.Error"/> names it.</summary>
    Error = 4,
    /// <summary>Its reader took no output for longer than actors-runtime.request.max-paused: the runtime freed its slot and KV.</summary>
    Evicted = 5,
}

[MessagePackObject]
public sealed record Usage(
    [property: Key(0)] int PromptTokens,
    [property: Key(1)] int CompletionTokens,
    [property: Key(2)] int CachedPromptTokens);

/// <summary>Milliseconds: queued until first scheduled, arrival to first token, and per generated token.</summary>
[MessagePackObject]
public sealed record Timings(
    [property: Key(0)] double QueuedMs,
    [property: Key(1)] double TimeToFirstTokenMs,
    [property: Key(2)] double TotalMs,
    [property: Key(3)] double[] InterTokenMs);

/// <summary>The one final message of an admitted request.</summary>
[MessagePackObject]
public sealed record GenerationCompleted(
    [property: Key(0)] string RequestId,
    [property: Key(1)] FinishReason Reason,
    [property: Key(2)] Usage Usage,
    [property: Key(3)] Timings Timings,
    [property: Key(4)] string? Error,
    [property: Key(5)] float[]? Embedding = null) : IRuntimeMessage;

public enum RejectionReason
{
    QueueFull = 0,
    PromptTooLong = 1,
    PromptExceedsKvCache = 2,
    InvalidParameters = 3,
    ShuttingDown = 4,
    DuplicateRequestId = 5,
    /// <summary>No healthy replica to run it (every one failed or is hung), or it waited past actors-runtime.request.admission-timeout.</summary>
    Unavailable = 6,
    /// <summary>The runtime failed before admitting it (an unexpected exception; the message names it).</summary>
    InternalError = 7,
}

/// <summary>A request that was not admitted; <see cref="Message"/> says why, naming the values.</summary>
[MessagePackObject]
public sealed record GenerationRejected(
    [property: Key(0)] string RequestId,
    [property: Key(1)] RejectionReason Reason,
    [property: Key(2)] string Message) : IRuntimeMessage;

/// <summary>
/// Moves a running request to another replica: its KV blocks are copied through the transfer actor
/// (byte for byte) and it continues there. Answered with <see cref="MigrationCompleted"/> or <see cref="MigrationFailed"/>.
/// </summary>
[MessagePackObject]
public sealed record MigrateRequest([property: Key(0)] string RequestId, [property: Key(1)] int TargetReplica) : IRuntimeMessage;

[MessagePackObject]
public sealed record MigrationCompleted(
    [property: Key(0)] string RequestId,
    [property: Key(1)] int FromReplica,
    [property: Key(2)] int ToReplica,
    [property: Key(3)] long Bytes,
    [property: Key(4)] int Blocks) : IRuntimeMessage;

[MessagePackObject]
public sealed record MigrationFailed([property: Key(0)] string RequestId, [property: Key(1)] string Reason) : IRuntimeMessage;
