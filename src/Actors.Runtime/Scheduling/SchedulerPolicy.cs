using Actors.Runtime.Collections;
using Actors.Runtime.Kv;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Scheduling;

/// <summary>
/// The scheduling core of one replica, with no actors and no clocks of its own: state in, decision
/// out. <see cref="Schedule"/> decides a step; <see cref="Update"/> applies its result; admission,
/// aborts and pauses are the only other calls that change state. One thread at a time (the
/// scheduler actor's).
/// <para>vLLM v1 style: one token budget per step and no prefill/decode phases. Every sequence
/// tracks computed tokens against known tokens (prompt + generated); a step gives each chosen
/// sequence a number of tokens to compute: the rest of its prompt or a chunk of it, or its one newest
/// token. Logits are needed exactly when a sequence's last known token is computed.</para>
/// <para>Steady state allocates nothing: sequence records, steps, results and their arrays are
/// pooled and only grow.</para>
/// </summary>
public sealed partial class SchedulerPolicy
{
    private readonly SchedulerSettings _settings;
    private readonly KvBlockPool _pool;
    private readonly KvBlockPool? _hostPool;
    private readonly KvCacheManager _kv;
    /// <summary>The sliding-window layers' own pool and tables; null when every layer uses the main pool.</summary>
    private readonly SlidingWindowBlocks? _sliding;
    private readonly Dictionary<long, SequenceState> _live;
    /// <summary>Forks not started yet, by id, with the sequence that will start them.</summary>
    private readonly Dictionary<long, SequenceState> _pendingForks = new();
    private readonly Stack<SequenceState> _spareSequences;
    private readonly SequenceQueue _waiting = new();
    private readonly SequenceQueue _swapped = new();
    private readonly RunningSet _running;
    private readonly ScheduledStep[] _steps;
    private readonly UpdateResult _updateResult;
    private int _inFlightSteps;
    private long _lastStepId;
    private long _admissions;

    public SchedulerPolicy(SchedulerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings.Validate();
        _pool = new KvBlockPool(settings.NumBlocks, settings.BlockSize);
        // A main-pool block misses the sliding layers' KV, so what moves main blocks on their own (swap, KV
        // import) is off with a sliding pool; prefix caching and forks share blocks of both (SlidingWindowBlocks).
        if (settings.NumSlidingBlocks > 0)
            _sliding = new SlidingWindowBlocks(new KvBlockPool(settings.NumSlidingBlocks, settings.BlockSize), settings.SlidingWindow);
        if (settings.PreemptionMode is PreemptionMode.Swap or PreemptionMode.Auto && settings.NumSwapBlocks > 0 && _sliding == null)
            _hostPool = new KvBlockPool(settings.NumSwapBlocks, settings.BlockSize);
        _kv = new KvCacheManager(_pool, settings.MaxBlocksPerSequence, settings.EnablePrefixCaching);
        int liveCapacity = settings.MaxWaiting + 2 * settings.MaxRunningSequences;
        _live = new Dictionary<long, SequenceState>(liveCapacity);
        _spareSequences = new Stack<SequenceState>(liveCapacity);
        _running = new RunningSet(settings.MaxRunningSequences);
        _steps = new ScheduledStep[settings.MaxInFlightSteps];
        for (int i = 0; i < _steps.Length; i++) _steps[i] = new ScheduledStep(this, settings);
        _updateResult = new UpdateResult(settings.MaxRunningSequences);
    }

    public SchedulerSettings Settings => _settings;
    /// <summary>The device KV block pool (counters: used, free, cached-free, hits, queries, evictions).</summary>
    public KvBlockPool BlockPool => _pool;
    /// <summary>The sliding-window layers' own pool; null when they share <see cref="BlockPool"/>.</summary>
    public KvBlockPool? SlidingBlockPool => _sliding?.Pool;

    /// <summary>Blocks sequence <paramref name="id"/> holds now in the main pool and in the sliding-window pool (0 without one); false if not live.</summary>
    public bool TryGetHeldBlocks(long id, out int mainBlocks, out int slidingBlocks)
    {
        mainBlocks = slidingBlocks = 0;
        if (!_live.TryGetValue(id, out var sequence)) return false;
        mainBlocks = sequence.Table.Count;
        if (_sliding != null) slidingBlocks = _sliding.LiveBlocks(sequence.SlidingTable!);
        return true;
    }
    /// <summary>
    /// Prefill seconds per token on this replica, measured by the caller from recent steps; what
    /// <see cref="PreemptionMode.Auto"/> weighs a recompute with (0: not measured yet, recompute).
    /// </summary>
    public double RecomputeSecondsPerToken { get; set; }

    /// <summary>The current estimate both ways for <see cref="PreemptionMode.Auto"/>.</summary>
    public PreemptionCost PreemptionCost => new(_settings.SwapSecondsPerBlock, RecomputeSecondsPerToken);

    /// <summary>Host blocks for swapped-out KV; null unless <see cref="PreemptionMode.Swap"/> or <see cref="PreemptionMode.Auto"/> with swap blocks.</summary>
    public KvBlockPool? HostBlockPool => _hostPool;
    public KvCacheManager KvCache => _kv;

    public int WaitingCount => _waiting.Count;
    public int RunningCount => _running.Count;
    public int SwappedCount => _swapped.Count;
    public int LiveCount => _live.Count;
    public int InFlightSteps => _inFlightSteps;
    public long TotalPreemptions { get; private set; }

    /// <summary>False while <see cref="SchedulerSettings.MaxInFlightSteps"/> steps await their <see cref="Update"/>.</summary>
    public bool CanSchedule => _inFlightSteps < _settings.MaxInFlightSteps;

    /// <summary>Something could be scheduled now: a queued sequence, or a running one not in a step in flight.</summary>
    public bool HasSchedulableWork
    {
        get
        {
            if (_waiting.Count > 0 || _swapped.Count > 0) return true;
            for (int i = 0; i < _running.Count; i++)
                if (_running[i].InFlightStep == 0 && !_running[i].Paused) return true;
            return false;
        }
    }

    /// <summary>
    /// Pauses or resumes a sequence whose consumer cannot keep up (stream backpressure). A paused
    /// running sequence keeps its KV blocks but is not scheduled. Returns false for an unknown id.
    /// </summary>
    public bool SetPaused(long id, bool paused)
    {
        if (!_live.TryGetValue(id, out var sequence)) return false;
        sequence.Paused = paused;
        return true;
    }

    public bool Contains(long id) => _live.ContainsKey(id) || _pendingForks.ContainsKey(id);

    /// <summary>
    /// Queues a request, or says why not. Checks cheapest first; the queue bound last, so a request
    /// that could never run is told so rather than "try later".
    /// </summary>
    public AdmissionResult TryAdd(SequenceRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        int prompt = request.PromptTokens.Length;
        int maxLength = _settings.MaxModelLength;
        if (Contains(request.Id))
            return AdmissionResult.Reject(AdmissionStatus.DuplicateId, $"sequence {request.Id} is already queued or running");
        if (CheckForks(request) is { } badFork) return badFork;
        if (prompt == 0)
            return AdmissionResult.Reject(AdmissionStatus.EmptyPrompt, "the prompt is empty: at least one token is needed to sample from");
        if (request.MaxNewTokens < 1)
            return AdmissionResult.Reject(AdmissionStatus.InvalidMaxNewTokens, $"max new tokens must be at least 1, got {request.MaxNewTokens}");
        if (prompt > maxLength)
            return AdmissionResult.Reject(AdmissionStatus.PromptTooLong, $"the prompt has {prompt} tokens, more than the model's maximum length of {maxLength}");
        if ((long)prompt + request.MaxNewTokens > maxLength)
            return AdmissionResult.Reject(AdmissionStatus.PromptPlusMaxTokensTooLong,
                $"the prompt ({prompt} tokens) plus max new tokens ({request.MaxNewTokens}) is {(long)prompt + request.MaxNewTokens}, " +
                $"more than the model's maximum length of {maxLength}: ask for at most {maxLength - prompt} new tokens");
        int promptBlocks = _kv.BlocksFor(prompt);
        if (promptBlocks > _settings.NumBlocks)
            return AdmissionResult.Reject(AdmissionStatus.PromptExceedsKvPool,
                $"the prompt needs {promptBlocks} KV blocks of {_settings.BlockSize} tokens, but the whole pool has {_settings.NumBlocks}");
        int sequenceBlocks = _kv.BlocksFor(prompt + request.MaxNewTokens);
        if (sequenceBlocks > _settings.NumBlocks)
            return AdmissionResult.Reject(AdmissionStatus.SequenceExceedsKvPool,
                $"the prompt plus max new tokens need {sequenceBlocks} KV blocks of {_settings.BlockSize} tokens, but the whole pool has {_settings.NumBlocks}: " +
                "the sequence could not finish even alone");
        if (_sliding != null && _sliding.PeakBlocks(prompt + request.MaxNewTokens, MaxChunk) is var peak && peak > _settings.NumSlidingBlocks)
            return AdmissionResult.Reject(AdmissionStatus.SequenceExceedsKvPool,
                $"the sequence needs up to {peak} sliding-window KV blocks of {_settings.BlockSize} tokens at once, but that pool has {_settings.NumSlidingBlocks}: " +
                "the sequence could not finish even alone");
        if (_waiting.Count >= _settings.MaxWaiting)
            return AdmissionResult.Reject(AdmissionStatus.QueueFull, $"the waiting queue is full ({_settings.MaxWaiting} sequences)");

        var sequence = RentSequence();
        sequence.Start(request, request.Id, ++_admissions);
        _live.Add(request.Id, sequence);
        _waiting.InsertByArrival(sequence);
        if (sequence.PendingForks != null)
            foreach (var fork in sequence.PendingForks) _pendingForks.Add(fork.Id, sequence);
        else
            foreach (var fork in request.Forks) TryAdd(fork); // a one-token prompt: nothing to share, each runs on its own
        return AdmissionResult.Accepted;
    }

    /// <summary>Forks must be plain sequences of the same prompt, with ids of their own; null when they are.</summary>
    private AdmissionResult? CheckForks(SequenceRequest request)
    {
        var forks = request.Forks;
        if (forks.Length == 0) return null;
        if (forks.Length + 1 > _settings.MaxRunningSequences)
            return AdmissionResult.Reject(AdmissionStatus.InvalidMaxNewTokens,
                $"{forks.Length + 1} parallel sequences are more than the {_settings.MaxRunningSequences} that may run at once");
        if (request.Forks.Length > 0 && request.PromptTokens.Length == 1 && _waiting.Count + forks.Length >= _settings.MaxWaiting)
            return AdmissionResult.Reject(AdmissionStatus.QueueFull, $"the waiting queue has no room for {forks.Length + 1} sequences");
        for (int i = 0; i < forks.Length; i++)
        {
            var fork = forks[i];
            if (fork.Id == request.Id || Contains(fork.Id) || Array.FindIndex(forks, 0, i, f => f.Id == fork.Id) >= 0)
                return AdmissionResult.Reject(AdmissionStatus.DuplicateId, $"fork {i} has id {fork.Id}, which is already taken");
            if (fork.Forks.Length > 0)
                return AdmissionResult.Reject(AdmissionStatus.InvalidMaxNewTokens, $"fork {fork.Id} has forks of its own; only one level is supported");
            if (!fork.PromptTokens.Span.SequenceEqual(request.PromptTokens.Span))
                return AdmissionResult.Reject(AdmissionStatus.EmptyPrompt, $"fork {fork.Id} has a different prompt from sequence {request.Id}: forks share the prompt");
            if (fork.MaxNewTokens < 1 || (long)fork.PromptTokens.Length + fork.MaxNewTokens > _settings.MaxModelLength
                || _kv.BlocksFor(fork.PromptTokens.Length + fork.MaxNewTokens) > _settings.NumBlocks)
                return AdmissionResult.Reject(AdmissionStatus.InvalidMaxNewTokens,
                    $"fork {fork.Id} asks for {fork.MaxNewTokens} new tokens, which is not between 1 and what the model length and KV pool allow");
        }
        return null;
    }

    /// <summary>
    /// The parent has computed all of its prompt but the last token: each pending fork starts there,
    /// sharing the parent's blocks (<see cref="KvCacheManager.Fork"/>), and computes the last prompt
    /// token itself next step (the first write copies the shared partly filled block). A fork that finds
    /// no running slot waits instead and is computed on its own (its full blocks may still come from
    /// the prefix cache).
    /// </summary>
    private void StartForks(SequenceState parent, UpdateResult result)
    {
        var forks = parent.PendingForks!;
        parent.PendingForks = null;
        foreach (var fork in forks)
        {
            if (!_pendingForks.Remove(fork.Id)) continue; // aborted before it started
            var child = RentSequence();
            bool run = _running.Count < _settings.MaxRunningSequences;
            child.StartForked(fork, run ? parent.ComputedTokens : 0, ++_admissions);
            _live.Add(fork.Id, child);
            if (run)
            {
                _kv.Fork(parent.Table, child.Table);
                _sliding?.Fork(parent.SlidingTable!, child.SlidingTable!);
                _running.Insert(child);
            }
            else _waiting.InsertByArrival(child);
            result.AddForked(parent.Id, fork.Id);
        }
    }
    /// <summary>
    /// Applies a step's result: advances computed tokens, caches blocks that became full, appends the
    /// sampled tokens (one per sequence that needed logits, in step order) and finishes sequences that
    /// reached a stop (see <see cref="StopDecision"/>), freeing their blocks. Sequences aborted
    /// while the step was in flight are skipped (their sampled tokens are dropped). The result is
    /// reused by the next call.
    /// </summary>
    public UpdateResult Update(ScheduledStep step, ReadOnlySpan<int> sampledTokens)
    {
        ArgumentNullException.ThrowIfNull(step);
        if (step.Owner != this || !step.InFlight)
            throw new InvalidOperationException($"step {step.StepId} is not in flight in this scheduler (already applied, or from another scheduler)");
        if (sampledTokens.Length != step.LogitCount)
            throw new ArgumentException($"step {step.StepId} needs {step.LogitCount} sampled tokens, got {sampledTokens.Length}", nameof(sampledTokens));

        var result = _updateResult;
        result.Clear();
        var scheduled = step.Sequences;
        int logit = 0;
        for (int i = 0; i < scheduled.Length; i++)
        {
            ref readonly var entry = ref scheduled[i];
            int token = entry.NeedsLogits ? sampledTokens[logit++] : 0;
            var sequence = step.StateAt(i, out int incarnation);
            if (sequence == null || sequence.Incarnation != incarnation) continue; // aborted while in flight

            sequence.InFlightStep = 0;
            sequence.InFlightTokens = 0;
            sequence.ComputedTokens += entry.TokenCount;
            _kv.CacheFullBlocks(sequence.Table, sequence.Tokens, sequence.ComputedTokens);
            _sliding?.CacheComputed(sequence.SlidingTable!, sequence.Table);
            // Blocks the next write can no longer see go back now, not at its next step: a long prompt's
            // chunk then holds the pool only while it is computed.
            _sliding?.ReleaseOutOfWindow(sequence.SlidingTable!, sequence.ComputedTokens);
            if (sequence.PendingForks != null && sequence.ComputedTokens == sequence.ForkPoint) StartForks(sequence, result);
            if (!entry.NeedsLogits) continue;

            sequence.Append(token);
            result.AddToken(sequence.Id, token);
            if (StopDecision.Decide(sequence.Request, token, sequence.GeneratedTokens) is { } reason)
                Finish(sequence, reason, result);
        }
        step.InFlight = false;
        _inFlightSteps--;
        return result;
    }

    /// <summary>
    /// Ends a sequence now, wherever it is (waiting, running, swapped, or inside a step in flight,
    /// whose result for it <see cref="Update"/> will then drop) and frees its KV blocks at once.
    /// Returns false when no live sequence has the id.
    /// </summary>
    public bool Abort(long id, AbortReason reason)
    {
        if (_pendingForks.Remove(id)) return true; // a fork not started yet: it simply never starts
        if (!_live.TryGetValue(id, out var sequence)) return false;
        switch (sequence.Status)
        {
            case SequenceStatus.Waiting: _waiting.Remove(sequence); break;
            case SequenceStatus.Swapped: _swapped.Remove(sequence); break;
            case SequenceStatus.Running: _running.Remove(sequence); break;
        }
        var orphans = sequence.PendingForks;
        sequence.PendingForks = null;
        Release(sequence);
        if (orphans != null) AdoptForks(orphans);
        return true;
    }

    /// <summary>
    /// The sequence that was to compute the prompt for these forks is gone before they started: the
    /// first fork still pending takes its place (queued with the others as its forks), so aborting one
    /// choice never ends the others.
    /// </summary>
    private void AdoptForks(SequenceRequest[] forks)
    {
        int first = Array.FindIndex(forks, f => _pendingForks.ContainsKey(f.Id));
        if (first < 0) return;
        var rest = forks.Skip(first + 1).Where(f => _pendingForks.ContainsKey(f.Id)).ToArray();
        var lead = forks[first] with { Forks = rest };
        _pendingForks.Remove(lead.Id);
        var sequence = RentSequence();
        sequence.Start(lead, lead.Id, ++_admissions);
        _live.Add(lead.Id, sequence);
        _waiting.InsertByArrival(sequence);
        foreach (var fork in rest) _pendingForks[fork.Id] = sequence;
    }

    private void Finish(SequenceState sequence, FinishReason reason, UpdateResult result)
    {
        result.AddFinished(sequence.Id, reason, sequence.GeneratedTokens);
        _running.Remove(sequence);
        Release(sequence);
    }

    /// <summary>Frees everything a sequence holds and returns its record to the pool.</summary>
    private void Release(SequenceState sequence)
    {
        // Forks that were waiting for this sequence's prompt are dropped with it (their owners abort them too).
        if (sequence.PendingForks != null)
            foreach (var fork in sequence.PendingForks) _pendingForks.Remove(fork.Id);
        _kv.Free(sequence.Table);
        _sliding?.Free(sequence.SlidingTable!);
        if (sequence.HostTable is { Count: > 0 } host)
        {
            for (int i = host.Count - 1; i >= 0; i--) _hostPool!.Free(host[i]);
            host.Clear();
        }
        _live.Remove(sequence.Id);
        sequence.Release();
        _spareSequences.Push(sequence);
    }

    private SequenceState RentSequence() =>
        _spareSequences.TryPop(out var sequence) ? sequence
            : new SequenceState(_kv.CreateTable()) { SlidingTable = _sliding != null ? _kv.CreateTable() : null };
}
