namespace Actors.Runtime.Scheduling;

// How one step is chosen. Budget order:
//   0. a more important waiting request may preempt less important running ones (bounded per step);
//   1. running sequences with one token to compute (decodes), most important first;
//   2. running sequences in the middle of a chunked prefill;
//   3+4. queued sequences in service order: swapped-out ones (brought back) and waiting ones
//        (priority, then arrival; preempted ones first in their class), merged.
// A running sequence that cannot get KV blocks preempts the least important, latest-arriving running
// sequence that is neither in a step in flight nor already in this step; with no such victim it
// preempts itself. After such a preemption nothing is resumed or admitted in this step (as vLLM v1):
// memory is short, and a preempted sequence would otherwise bounce straight back in.
public sealed partial class SchedulerPolicy
{
    private ScheduledStep _step = null!;
    private int _budget;
    private bool _preemptedForBlocks;

    /// <summary>
    /// Decides the next step. Every returned step, even an empty one, must go back through
    /// <see cref="Update"/> once executed; until then its sequences are not scheduled again (so up to
    /// <see cref="SchedulerSettings.MaxInFlightSteps"/> steps in flight never share a sequence).
    /// Throws when that many steps are already in flight (see <see cref="CanSchedule"/>).
    /// </summary>
    public ScheduledStep Schedule()
    {
        if (!CanSchedule)
            throw new InvalidOperationException($"{_inFlightSteps} steps are in flight, the most allowed: apply one with Update before scheduling another");
        _step = RentStep();
        _step.Begin(++_lastStepId);
        _budget = _settings.MaxBatchedTokens;
        _preemptedForBlocks = false;
        _sequenceCap = MicroBatchCap();

        PreemptForMoreImportantWaiting();
        ScheduleRunning(decodes: true);
        ScheduleRunning(decodes: false);
        if (!_preemptedForBlocks) StartQueued();

        _step.InFlight = true;
        _inFlightSteps++;
        var step = _step;
        _step = null!;
        return step;
    }

    private int _sequenceCap;

    /// <summary>
    /// With several steps in flight (pipeline stages), each step computes about 1/S of the running sequences,
    /// so the S micro-batches are alike and every stage stays busy; a single step would otherwise take every
    /// sequence and leave the next step (and so the first stage) idle until it returns. New sequences are
    /// admitted whenever the budget allows, so the cap never keeps a waiting request out.
    /// </summary>
    private int MicroBatchCap()
    {
        int steps = _settings.MaxInFlightSteps;
        if (steps == 1) return int.MaxValue;
        // Spread what is not already in flight over the steps that can still start.
        int notInFlight = 0;
        for (int i = 0; i < _running.Count; i++) if (_running[i].InFlightStep == 0) notInFlight++;
        int runnable = Math.Min(_settings.MaxRunningSequences, notInFlight + _waiting.Count + _swapped.Count);
        int freeSlots = steps - _inFlightSteps;
        return Math.Max(1, (runnable + freeSlots - 1) / freeSlots);
    }

    private ScheduledStep RentStep()
    {
        foreach (var step in _steps)
            if (!step.InFlight) return step;
        throw new InvalidOperationException("no free step object although fewer steps than the limit are in flight");
    }

    /// <summary>Passes 1 and 2: give running sequences their tokens, preempting others when blocks run out.</summary>
    private void ScheduleRunning(bool decodes)
    {
        if (_sequenceCap == int.MaxValue)
        {
            ScheduleRunning(decodes, onlyOverdue: false);
            return;
        }
        // Under a micro-batch cap, sequences not scheduled during the last n steps go first (in priority
        // order), so every running sequence gets its turn even when the steps happen not to overlap.
        ScheduleRunning(decodes, onlyOverdue: true);
        ScheduleRunning(decodes, onlyOverdue: false);
    }

    private void ScheduleRunning(bool decodes, bool onlyOverdue)
    {
        long overdueBefore = _step.StepId - _settings.MaxInFlightSteps;
        for (int i = 0; i < _running.Count && _budget > 0 && _step.Sequences.Length < _sequenceCap; i++)
        {
            var sequence = _running[i];
            if (sequence.InFlightStep != 0 || sequence.LastScheduledStep == _step.StepId || sequence.Paused) continue;
            if (onlyOverdue && sequence.LastScheduledStep > overdueBefore) continue;
            int remaining = sequence.SchedulableTokens;
            if ((remaining == 1) != decodes) continue;
            int count = decodes ? 1 : PrefillChunk(remaining);
            if (count == 0) continue;

            bool preemptedItself = false;
            while (!TryAllocateSlots(sequence, count))
            {
                int victim = FindVictimAfter(i);
                if (victim < 0)
                {
                    Preempt(sequence, i, forBlocks: true);
                    preemptedItself = true;
                    break;
                }
                Preempt(_running[victim], victim, forBlocks: true);
            }
            if (preemptedItself)
            {
                i--; // the next sequence moved into this index
                continue;
            }
            AddToStep(sequence, sequence.ComputedTokens, count);
        }
    }

    /// <summary>
    /// Passes 3 and 4: start queued sequences in service order, swapped and waiting merged (a swapped
    /// one goes first among equal priorities: it already holds progress). Head-of-line: when the next
    /// in line cannot start, later ones wait too, so long prompts are not starved by short ones.
    /// </summary>
    private void StartQueued()
    {
        while (_budget > 0 && _running.Count < _settings.MaxRunningSequences)
        {
            var swapped = _swapped.First;
            var waiting = _waiting.First;
            if (swapped == null && waiting == null) return;
            bool resume = swapped != null && (waiting == null || swapped.Priority <= waiting.Priority);
            var sequence = resume ? swapped! : waiting!;
            if (sequence.LastPreemptedStep == _step.StepId) return; // it just lost its place; not back in the same step
            if (!(resume ? TryResume(sequence) : TryAdmit(sequence))) return;
        }
    }

    private bool TryResume(SequenceState sequence)
    {
        int remaining = sequence.SchedulableTokens;
        int count = remaining == 1 ? 1 : PrefillChunk(remaining);
        if (count == 0) return false;
        if (!_kv.TrySwapIn(sequence.Table, sequence.HostTable!, _hostPool!, sequence.ComputedTokens + count, _step.SwapInList)) return false;
        _swapped.Remove(sequence);
        sequence.Status = SequenceStatus.Running;
        sequence.BlocksReplaced = true;
        _running.Insert(sequence);
        AddToStep(sequence, sequence.ComputedTokens, count);
        return true;
    }

    private bool TryAdmit(SequenceState sequence)
    {
        var tokens = sequence.Tokens;
        int cached = CachedPrefix(sequence);
        // With a sliding pool a hit also needs the sliding blocks its first write sees: maybe a shorter one.
        if (_sliding != null && cached > 0) cached = _sliding.UsableHit(_kv.FoundPrefixHashes(cached / _settings.BlockSize)) * _settings.BlockSize;
        // With forks pending the prompt is computed up to the fork point; at least one token of it
        // here, so the forks start from the step's result.
        if (sequence.PendingForks != null && cached >= sequence.ForkPoint) cached -= _settings.BlockSize;
        int count = PrefillChunk((sequence.PendingForks != null ? sequence.ForkPoint : tokens.Length) - cached);
        if (count == 0) return false;
        if (_sliding != null && !_sliding.HasRoomToStart(_kv.FoundPrefixHashes(cached / _settings.BlockSize), count)) return false;
        if (!_kv.TryAllocateWithCachedPrefix(sequence.Table, tokens, cached, count)) return false;
        _sliding?.Start(sequence.SlidingTable!, _kv.FoundPrefixHashes(cached / _settings.BlockSize), count);
        _waiting.Remove(sequence);
        sequence.AtFrontOfClass = false;
        sequence.Status = SequenceStatus.Running;
        sequence.ComputedTokens = cached;
        _running.Insert(sequence);
        AddToStep(sequence, cached, count);
        return true;
    }

    /// <summary>
    /// Pass 0: while the most important waiting request is more important than the least important
    /// running one and cannot start for lack of a running slot or of blocks, preempt that running one,
    /// at most <see cref="SchedulerSettings.MaxPriorityPreemptionsPerStep"/> times per step. Done before
    /// any running sequence is scheduled, so a victim never has to be taken back out of the step.
    /// </summary>
    private void PreemptForMoreImportantWaiting()
    {
        var candidate = _waiting.First;
        if (candidate == null) return;
        for (int preempted = 0; preempted < _settings.MaxPriorityPreemptionsPerStep; preempted++)
        {
            bool slotShort = _running.Count >= _settings.MaxRunningSequences;
            bool blocksShort = !slotShort && (_pool.FreeCount < BlocksToStart(candidate, out int chunk)
                || (_sliding != null && _sliding.Pool.FreeCount < _kv.BlocksFor(chunk)));
            if (!slotShort && !blocksShort) return;
            int victim = -1;
            for (int j = _running.Count - 1; j >= 0 && _running[j].Priority > candidate.Priority; j--)
            {
                if (_running[j].InFlightStep != 0) continue;
                victim = j;
                break;
            }
            if (victim < 0) return;
            Preempt(_running[victim], victim, forBlocks: false);
        }
    }

    private int CachedPrefix(SequenceState sequence) => sequence.Request.SkipPrefixCache ? 0 : _kv.FindCachedPrefix(sequence.Tokens);

    /// <summary>Blocks the first step of a waiting sequence needs beyond its cached prefix.</summary>
    private int BlocksToStart(SequenceState sequence, out int chunk)
    {
        var tokens = sequence.Tokens;
        int cached = CachedPrefix(sequence);
        chunk = _settings.EnableChunkedPrefill ? Math.Min(tokens.Length - cached, ChunkCap()) : tokens.Length - cached;
        return _kv.BlocksFor(cached + chunk) - cached / _settings.BlockSize;
    }

    /// <summary>
    /// Room for a running sequence's next <paramref name="count"/> tokens in both pools, all or nothing
    /// for new blocks (sliding blocks that fell out of the window are released either way: they are
    /// never read again). Copy-on-write copies (both pools) go to the step.
    /// </summary>
    private bool TryAllocateSlots(SequenceState sequence, int count)
    {
        int start = sequence.ComputedTokens;
        if (_sliding != null && !SlidingRoomFor(sequence, start, count)) return false;
        if (!_kv.TryAllocateSlots(sequence.Table, start, count, _step.CopiesList)) return false;
        AllocateSliding(sequence, start, count);
        return true;
    }

    /// <summary>Releases the sliding blocks a write from <paramref name="start"/> no longer sees; true when the sliding pool then has room for the write.</summary>
    private bool SlidingRoomFor(SequenceState sequence, int start, int count)
    {
        _sliding!.ReleaseOutOfWindow(sequence.SlidingTable!, start);
        return _sliding.BlocksNeeded(sequence.SlidingTable!, start, count) <= _sliding.Pool.FreeCount;
    }

    /// <summary>Takes the sliding blocks <see cref="SlidingRoomFor"/> found room for (nothing without a sliding pool).</summary>
    private void AllocateSliding(SequenceState sequence, int start, int count)
    {
        if (_sliding != null && !_sliding.TryAllocate(sequence.SlidingTable!, start, count, _step.SlidingCopiesList))
            throw new InvalidOperationException($"the sliding-window pool lost the room found for sequence {sequence.Id}");
    }

    /// <summary>
    /// Tokens of a prefill with <paramref name="remaining"/> tokens left that fit this step: with
    /// chunked prefill as many as the budget (and the long-prefill cap) allow, without it all or none.
    /// </summary>
    private int PrefillChunk(int remaining)
    {
        if (!_settings.EnableChunkedPrefill) return remaining <= _budget ? remaining : 0;
        return Math.Min(remaining, Math.Min(_budget, ChunkCap()));
    }

    private int ChunkCap() => _settings.LongPrefillThreshold ?? int.MaxValue;

    /// <summary>Most tokens one sequence computes in one step.</summary>
    private int MaxChunk => _settings.EnableChunkedPrefill ? Math.Min(ChunkCap(), _settings.MaxBatchedTokens) : _settings.MaxBatchedTokens;

    /// <summary>
    /// The least important, latest-arriving running sequence after index <paramref name="requester"/>
    /// (those before it are more important) that is neither in flight nor already in this step; -1 if none.
    /// </summary>
    private int FindVictimAfter(int requester)
    {
        for (int j = _running.Count - 1; j > requester; j--)
        {
            var candidate = _running[j];
            if (candidate.InFlightStep == 0 && candidate.LastScheduledStep != _step.StepId) return j;
        }
        return -1;
    }

    /// <summary>
    /// Takes a running sequence out: in Swap mode its KV goes to host blocks (when there is room), in
    /// Auto mode too when that is estimated cheaper than recomputing it; otherwise its blocks are freed
    /// and it waits at the front of its priority class to be recomputed
    /// from its prompt and generated tokens.
    /// </summary>
    private void Preempt(SequenceState sequence, int runningIndex, bool forBlocks)
    {
        if (sequence.InFlightStep != 0) throw new InvalidOperationException($"sequence {sequence.Id} is in a step in flight and cannot be preempted");
        _running.RemoveAt(runningIndex);
        sequence.Preemptions++;
        sequence.LastPreemptedStep = _step.StepId;
        TotalPreemptions++;
        _preemptedForBlocks |= forBlocks;

        bool swap = _settings.PreemptionMode == PreemptionMode.Swap
            || (_settings.PreemptionMode == PreemptionMode.Auto && PreemptionCost.PrefersSwap(sequence.Table.Count, sequence.ComputedTokens));
        if (swap && _hostPool != null)
        {
            sequence.HostTable ??= _kv.CreateTable();
            if (_kv.TrySwapOut(sequence.Table, sequence.HostTable, _hostPool, _step.SwapOutList))
            {
                sequence.Status = SequenceStatus.Swapped;
                _swapped.InsertByArrival(sequence);
                _step.AddPreemption(sequence.Id, PreemptionMode.Swap);
                return;
            }
        }
        _kv.Free(sequence.Table);
        _sliding?.Free(sequence.SlidingTable!);
        sequence.ComputedTokens = 0;
        sequence.FirstStepPending = true;
        sequence.Status = SequenceStatus.Waiting;
        sequence.AtFrontOfClass = true;
        _waiting.InsertAtFrontOfClass(sequence);
        _step.AddPreemption(sequence.Id, PreemptionMode.Recompute);
    }

    private void AddToStep(SequenceState sequence, int start, int count)
    {
        bool needsLogits = start + count == sequence.KnownTokens;
        int changedFrom = sequence.FirstStepPending || sequence.BlocksReplaced ? 0 : start / _settings.BlockSize;
        _step.Add(sequence, start, count, needsLogits, changedFrom);
        sequence.FirstStepPending = false;
        sequence.BlocksReplaced = false;
        sequence.InFlightStep = _step.StepId;
        sequence.InFlightTokens = count;
        sequence.LastScheduledStep = _step.StepId;
        _budget -= count;
    }
}
