using Actors.Runtime.Collections;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Scheduling;

/// <summary>Why <see cref="SchedulerPolicy.Abort"/> was called.</summary>
public enum AbortReason
{
    Cancelled = FinishReason.Cancelled,
    DeadlineExpired = FinishReason.Deadline,
    Error = FinishReason.Error,
    Evicted = FinishReason.Evicted,
}

public readonly record struct FinishedSequence(long Id, FinishReason Reason, int GeneratedTokens);

/// <summary>A fork (see <see cref="SequenceRequest.Forks"/>) started from its parent's computed prompt.</summary>
public readonly record struct ForkedSequence(long ParentId, long Id);

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
    private readonly ReusableList<ForkedSequence> _forked = new(4);

    internal UpdateResult(int capacity)
    {
        _appended = new(capacity);
        _finished = new(capacity);
    }

    /// <summary>Tokens appended, in step order (finished sequences' last tokens included).</summary>
    public ReadOnlySpan<AppendedToken> Appended => _appended.Span;

    /// <summary>Sequences that finished; their KV blocks are already free.</summary>
    public ReadOnlySpan<FinishedSequence> Finished => _finished.Span;

    /// <summary>Forks started by this step (they run from the next step on).</summary>
    public ReadOnlySpan<ForkedSequence> Forked => _forked.Span;

    internal void Clear()
    {
        _forked.Clear();
        _appended.Clear();
        _finished.Clear();
    }

    internal void AddForked(long parent, long id) => _forked.Add(new ForkedSequence(parent, id));

    internal void AddToken(long id, int token) => _appended.Add(new AppendedToken(id, token));

    internal void AddFinished(long id, FinishReason reason, int generated) => _finished.Add(new FinishedSequence(id, reason, generated));
}
