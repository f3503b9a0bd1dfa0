using Actors.Runtime.Collections;

namespace Actors.Runtime.Scheduling;

public enum FinishReason
{
    /// <summary>Sampled the end-of-sequence token.</summary>
    EndOfSequence = 0,
    /// <summary>Generated the request's max new tokens.</summary>
    MaxTokens = 1,
    /// <summary>Aborted by the caller (client disconnect, cancel).</summary>
    Cancelled = 2,
    /// <summary>Aborted because its deadline passed.</summary>
    DeadlineExpired = 3,
    /// <summary>Aborted because something failed on its behalf.</summary>
    Error = 4,
}

/// <summary>Why <see cref="SchedulerPolicy.Abort"/> was called.</summary>
public enum AbortReason
{
    Cancelled = FinishReason.Cancelled,
    DeadlineExpired = FinishReason.DeadlineExpired,
    Error = FinishReason.Error,
}

public readonly record struct FinishedSequence(long Id, FinishReason Reason, int GeneratedTokens);

/// <summary>A token sampled for a sequence and appended to it.</summary>
public readonly record struct AppendedToken(long Id, int Token);

/// <summary>
/// What applying a step changed. Reused by the scheduler: valid until the next
/// <see cref="SchedulerPolicy.Update"/>.
/// </summary>
public sealed class UpdateResult
{
    private readonly ReusableList<AppendedToken> _appended;
    private readonly ReusableList<FinishedSequence> _finished;

    internal UpdateResult(int capacity)
    {
        _appended = new(capacity);
        _finished = new(capacity);
    }

    /// <summary>Tokens appended, in step order (finished sequences' last tokens included).</summary>
    public ReadOnlySpan<AppendedToken> Appended => _appended.Span;

    /// <summary>Sequences that finished; their KV blocks are already free.</summary>
    public ReadOnlySpan<FinishedSequence> Finished => _finished.Span;

    internal void Clear()
    {
        _appended.Clear();
        _finished.Clear();
    }

    internal void AddToken(long id, int token) => _appended.Add(new AppendedToken(id, token));

    internal void AddFinished(long id, FinishReason reason, int generated) => _finished.Add(new FinishedSequence(id, reason, generated));
}
