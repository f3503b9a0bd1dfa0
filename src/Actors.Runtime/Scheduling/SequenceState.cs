using Actors.Runtime.Kv;

namespace Actors.Runtime.Scheduling;

internal enum SequenceStatus
{
    Waiting = 0,
    Running = 1,
    Swapped = 2,
    Released = 3,
}

/// <summary>
/// The scheduler's mutable record of one live sequence. Instances are pooled and reused: a released
/// sequence's <see cref="Incarnation"/> moves on, which is how an in-flight step recognises that the
/// sequence it scheduled is gone (aborted) even when the object already serves a newer request.
/// </summary>
internal sealed class SequenceState
{
    private int[] _tokens = new int[64];

    public SequenceState(KvBlockTable table) => Table = table;

    public long Id { get; private set; }
    public SequenceRequest Request { get; private set; } = null!;
    public int Incarnation { get; private set; }
    public SequenceStatus Status { get; set; }

    /// <summary>Prompt tokens followed by generated tokens.</summary>
    public int KnownTokens { get; private set; }
    public int PromptLength { get; private set; }
    /// <summary>Leading tokens whose KV is in the cache (computed, or taken from the prefix cache).</summary>
    public int ComputedTokens { get; set; }
    public int GeneratedTokens => KnownTokens - PromptLength;
    public int RemainingTokens => KnownTokens - ComputedTokens;
    /// <summary>Forks not started yet (see <see cref="SequenceRequest.Forks"/>); null when none.</summary>
    public SequenceRequest[]? PendingForks { get; set; }
    /// <summary>Computed tokens at which the pending forks start: all of the prompt but its last token.</summary>
    public int ForkPoint => PromptLength - 1;
    /// <summary>Tokens the scheduler may compute for it now: with forks pending, only up to the fork point.</summary>
    public int SchedulableTokens => PendingForks != null ? ForkPoint - ComputedTokens : RemainingTokens;
    public ReadOnlySpan<int> Tokens => _tokens.AsSpan(0, KnownTokens);

    public int Priority => Request.Priority;
    public TimeSpan ArrivalTime => Request.ArrivalTime;
    /// <summary>Position in admission order: the final tie-break, so ordering is total and deterministic.</summary>
    public long AdmissionOrder { get; private set; }

    /// <summary>Device blocks.</summary>
    public KvBlockTable Table { get; }
    /// <summary>Blocks of the sliding-window layers' own pool (logical indexing as <see cref="Table"/>); null without one.</summary>
    public KvBlockTable? SlidingTable { get; init; }
    /// <summary>Host blocks while swapped out (created on first swap).</summary>
    public KvBlockTable? HostTable { get; set; }

    /// <summary>Step this sequence is part of and whose result is not applied yet; 0 = none.</summary>
    public long InFlightStep { get; set; }
    /// <summary>Tokens the step in flight computes for this sequence (0 when none is in flight).</summary>
    public int InFlightTokens { get; set; }
    public long LastScheduledStep { get; set; }
    public long LastPreemptedStep { get; set; }
    public int Preemptions { get; set; }
    /// <summary>The next step is the first the workers see of this sequence (new, or recomputed after preemption).</summary>
    public bool FirstStepPending { get; set; }
    /// <summary>All blocks were replaced since the last step (swap-in): the next step must carry the whole table.</summary>
    public bool BlocksReplaced { get; set; }
    /// <summary>Its consumer is not keeping up (backpressure): a running sequence is skipped until resumed.</summary>
    public bool Paused { get; set; }
    /// <summary>Preempted sequences wait at the front of their priority class instead of by arrival.</summary>
    public bool AtFrontOfClass { get; set; }

    // Intrusive links for SequenceQueue (a sequence is in at most one queue).
    public SequenceState? Previous { get; set; }
    public SequenceState? Next { get; set; }
    public bool Queued { get; set; }

    public void Start(SequenceRequest request, long id, long admissionOrder)
    {
        var prompt = request.PromptTokens.Span;
        EnsureTokenCapacity(prompt.Length + request.MaxNewTokens);
        prompt.CopyTo(_tokens);
        Request = request;
        Id = id;
        AdmissionOrder = admissionOrder;
        KnownTokens = PromptLength = prompt.Length;
        ComputedTokens = 0;
        Status = SequenceStatus.Waiting;
        InFlightStep = LastScheduledStep = LastPreemptedStep = 0;
        InFlightTokens = 0;
        Preemptions = 0;
        Paused = false;
        FirstStepPending = true;
        BlocksReplaced = AtFrontOfClass = false;
        PendingForks = request.Forks.Length > 0 && prompt.Length > 1 ? request.Forks : null;
    }

    /// <summary>
    /// Starts as a fork at its parent's fork point: the same prompt, the first
    /// <paramref name="computedTokens"/> of it in the KV cache (0: it waits to be computed on its own).
    /// </summary>
    public void StartForked(SequenceRequest request, int computedTokens, long admissionOrder)
    {
        Start(request, request.Id, admissionOrder);
        ComputedTokens = computedTokens;
        Status = computedTokens > 0 ? SequenceStatus.Running : SequenceStatus.Waiting;
        PendingForks = null;
    }

    /// <summary>
    /// Starts as a sequence moved from another replica: its prompt and generated tokens, with the
    /// first <paramref name="computedTokens"/> already in the KV cache (their blocks are copied in).
    /// </summary>
    public void StartImported(SequenceRequest request, long id, ReadOnlySpan<int> tokens, int promptLength, int computedTokens, long admissionOrder)
    {
        EnsureTokenCapacity(promptLength + request.MaxNewTokens);
        tokens.CopyTo(_tokens);
        Request = request;
        Id = id;
        AdmissionOrder = admissionOrder;
        KnownTokens = tokens.Length;
        PromptLength = promptLength;
        ComputedTokens = computedTokens;
        Status = computedTokens > 0 ? SequenceStatus.Running : SequenceStatus.Waiting;
        InFlightStep = LastScheduledStep = LastPreemptedStep = 0;
        InFlightTokens = 0;
        Preemptions = 0;
        Paused = false;
        FirstStepPending = computedTokens == 0;
        BlocksReplaced = true;
        AtFrontOfClass = computedTokens == 0;
        PendingForks = null;
    }

    public void Append(int token) => _tokens[KnownTokens++] = token;

    /// <summary>Ends this incarnation; in-flight steps that still name it will skip it.</summary>
    public void Release()
    {
        Status = SequenceStatus.Released;
        Incarnation++;
        Request = null!;
        PendingForks = null;
    }

    private void EnsureTokenCapacity(int capacity)
    {
        if (_tokens.Length < capacity) _tokens = new int[Math.Max(capacity, _tokens.Length * 2)];
    }
}
