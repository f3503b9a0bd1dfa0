using Actors.Runtime.Kv;

namespace Actors.Runtime.Scheduling;

/// <summary>A sequence taken out of one replica's scheduler to continue on another.</summary>
/// <param name="Tokens">Prompt tokens followed by the generated ones.</param>
/// <param name="ComputedTokens">Leading tokens whose KV is in <paramref name="Blocks"/>.</param>
/// <param name="Blocks">Device blocks holding that KV, pinned until <see cref="SchedulerPolicy.ReleaseExported"/>.</param>
public sealed record ExportedSequence(SequenceRequest Request, int[] Tokens, int PromptLength, int ComputedTokens, int[] Blocks)
{
    public int GeneratedTokens => Tokens.Length - PromptLength;
}

public sealed partial class SchedulerPolicy
{
    /// <summary>
    /// Takes a sequence out (migration to another replica): a running one between steps keeps its KV
    /// blocks pinned (an extra reference each) until <see cref="ReleaseExported"/>, so they can be read
    /// while the copy runs; a waiting one carries no blocks. False when the sequence is unknown, inside
    /// a step in flight, or swapped out.
    /// </summary>
    public bool TryExport(long id, out ExportedSequence exported)
    {
        exported = null!;
        if (!_live.TryGetValue(id, out var sequence) || sequence.InFlightStep != 0) return false;
        if (sequence.Status is not (SequenceStatus.Running or SequenceStatus.Waiting)) return false;
        if (sequence.PendingForks != null) return false; // its forks start from its KV here
        // With a sliding-window pool a main block misses the sliding layers' KV: the sequence moves without KV and is recomputed there.
        int computed = sequence.Status == SequenceStatus.Running && _sliding == null ? sequence.ComputedTokens : 0;
        int blockCount = _kv.BlocksFor(computed);
        var blocks = sequence.Table.Blocks[..blockCount].ToArray();
        foreach (int b in blocks) _pool.AddRef(b);
        exported = new ExportedSequence(sequence.Request, sequence.Tokens.ToArray(), sequence.PromptLength, computed, blocks);
        if (sequence.Status == SequenceStatus.Running) _running.Remove(sequence);
        else _waiting.Remove(sequence);
        Release(sequence);
        return true;
    }

    /// <summary>Drops the pins <see cref="TryExport"/> put on an exported sequence's blocks once they are copied.</summary>
    public void ReleaseExported(ReadOnlySpan<int> blocks)
    {
        foreach (int b in blocks) _pool.Free(b);
    }

    /// <summary>
    /// Takes in a sequence from another replica. With <paramref name="computedTokens"/> &gt; 0 it allocates
    /// blocks for that KV and returns them (the caller copies the KV in) and the sequence is neither
    /// scheduled nor preempted until <see cref="CompleteImport"/>; with 0 it waits at the front of its class and is recomputed.
    /// </summary>
    public AdmissionResult TryImport(SequenceRequest request, ReadOnlySpan<int> tokens, int promptLength, int computedTokens, out int[] blocks)
    {
        blocks = [];
        if (_live.ContainsKey(request.Id))
            return AdmissionResult.Reject(AdmissionStatus.DuplicateId, $"sequence {request.Id} is already live on this replica");
        if (tokens.Length > _settings.MaxModelLength)
            return AdmissionResult.Reject(AdmissionStatus.PromptTooLong, $"{tokens.Length} tokens exceed the model length {_settings.MaxModelLength}");
        if (computedTokens > 0 && _sliding != null)
            return AdmissionResult.Reject(AdmissionStatus.PromptExceedsKvPool,
                "this replica keeps sliding-window layers' KV in a pool of their own, so KV blocks cannot be imported: send the sequence without KV to recompute it");
        if (computedTokens > 0 && _running.Count >= _settings.MaxRunningSequences)
            return AdmissionResult.Reject(AdmissionStatus.QueueFull, $"the running set is full ({_settings.MaxRunningSequences} sequences)");
        if (computedTokens == 0 && _waiting.Count >= _settings.MaxWaiting)
            return AdmissionResult.Reject(AdmissionStatus.QueueFull, $"the waiting queue is full ({_settings.MaxWaiting} sequences)");

        var sequence = RentSequence();
        sequence.StartImported(request, request.Id, tokens, promptLength, computedTokens, ++_admissions);
        if (computedTokens > 0)
        {
            _migrationCopies.Clear();
            if (!_kv.TryAllocateSlots(sequence.Table, 0, computedTokens, _migrationCopies))
            {
                sequence.Release();
                _spareSequences.Push(sequence);
                return AdmissionResult.Reject(AdmissionStatus.PromptExceedsKvPool, $"{_kv.BlocksFor(computedTokens)} free KV blocks are needed, {_pool.FreeCount} are free");
            }
            // Marked as if in a step in flight: never scheduled, never a preemption victim, until its KV is in.
            sequence.InFlightStep = ImportingStep;
            blocks = sequence.Table.Blocks.ToArray();
            _live.Add(request.Id, sequence);
            _running.Insert(sequence);
        }
        else
        {
            _live.Add(request.Id, sequence);
            _waiting.InsertByArrival(sequence);
        }
        return AdmissionResult.Accepted;
    }

    /// <summary>The imported KV is in place: cache its full blocks and let the sequence run.</summary>
    public void CompleteImport(long id)
    {
        if (!_live.TryGetValue(id, out var sequence)) return;
        _kv.CacheFullBlocks(sequence.Table, sequence.Tokens, sequence.ComputedTokens);
        sequence.BlocksReplaced = false;
        if (sequence.InFlightStep == ImportingStep) sequence.InFlightStep = 0;
    }

    /// <summary>Whether the sequence's imported KV is still being copied in (abort it only after <see cref="CompleteImport"/>).</summary>
    public bool IsImporting(long id) => _live.TryGetValue(id, out var s) && s.InFlightStep == ImportingStep;

    private const long ImportingStep = -1;

    private readonly Collections.ReusableList<BlockCopy> _migrationCopies = new(4);
}
