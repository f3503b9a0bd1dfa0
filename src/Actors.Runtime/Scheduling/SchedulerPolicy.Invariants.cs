using Actors.Runtime.Kv;

namespace Actors.Runtime.Scheduling;

public sealed partial class SchedulerPolicy
{
    /// <summary>
    /// Verifies the scheduler's bookkeeping and throws an <see cref="InvalidOperationException"/>
    /// naming the first broken invariant. O(blocks + sequences) and allocating: for tests and debug
    /// builds, not for every step in production.
    /// <list type="bullet">
    /// <item>Both block pools are internally consistent (<see cref="Kv.KvBlockPool.CheckInvariants"/>).</item>
    /// <item>Every block's ref count equals the number of live block tables that hold it.</item>
    /// <item>A running sequence holds exactly ceil((computed + in-flight tokens) / block size) blocks,
    /// so at most its last block is partly empty; queued sequences hold no device blocks and a swapped
    /// one exactly the host blocks of its computed tokens.</item>
    /// <item>Waiting + running + swapped = live sequences; the running set is in service order.</item>
    /// <item>A pending fork is not live and waits for a live sequence that lists it and has not passed its fork point.</item>
    /// </list>
    /// </summary>
    public void CheckInvariants()
    {
        _pool.CheckInvariants();
        _hostPool?.CheckInvariants();
        _sliding?.Pool.CheckInvariants();
        var slidingRefs = new int[_sliding?.Pool.NumBlocks ?? 0];
        var deviceRefs = new int[_pool.NumBlocks];
        var hostRefs = new int[_hostPool?.NumBlocks ?? 0];
        int waiting = 0, running = 0, swapped = 0;
        foreach (var sequence in _live.Values)
        {
            foreach (int block in sequence.Table.Blocks) deviceRefs[block]++;
            if (_sliding != null) CheckSlidingTable(sequence, slidingRefs);
            if (sequence.HostTable != null) foreach (int block in sequence.HostTable.Blocks) hostRefs[block]++;
            int hostBlocks = sequence.HostTable?.Count ?? 0;
            switch (sequence.Status)
            {
                case SequenceStatus.Running:
                    running++;
                    int held = sequence.ComputedTokens + sequence.InFlightTokens;
                    if (sequence.Table.Count != _kv.BlocksFor(held))
                        throw Broken($"running sequence {sequence.Id} holds {sequence.Table.Count} blocks for {held} tokens (expected {_kv.BlocksFor(held)}): more than one partly filled block");
                    if ((sequence.InFlightStep == 0) != (sequence.InFlightTokens == 0))
                        throw Broken($"sequence {sequence.Id} is in flight in step {sequence.InFlightStep} with {sequence.InFlightTokens} tokens");
                    if (hostBlocks != 0) throw Broken($"running sequence {sequence.Id} still holds {hostBlocks} host blocks");
                    break;
                case SequenceStatus.Waiting:
                    waiting++;
                    if (sequence.Table.Count != 0 || hostBlocks != 0) throw Broken($"waiting sequence {sequence.Id} holds blocks");
                    if (sequence.ComputedTokens != 0) throw Broken($"waiting sequence {sequence.Id} claims {sequence.ComputedTokens} computed tokens");
                    break;
                case SequenceStatus.Swapped:
                    swapped++;
                    if (sequence.Table.Count != 0) throw Broken($"swapped sequence {sequence.Id} holds device blocks");
                    if (hostBlocks != _kv.BlocksFor(sequence.ComputedTokens))
                        throw Broken($"swapped sequence {sequence.Id} holds {hostBlocks} host blocks for {sequence.ComputedTokens} computed tokens");
                    break;
                default:
                    throw Broken($"live sequence {sequence.Id} is {sequence.Status}");
            }
            if (sequence.Status != SequenceStatus.Running && sequence.InFlightStep != 0)
                throw Broken($"{sequence.Status} sequence {sequence.Id} is in flight");
        }
        for (int b = 0; b < deviceRefs.Length; b++)
            if (deviceRefs[b] != _pool.RefCount(b))
                throw Broken($"device block {b} has ref count {_pool.RefCount(b)} but {deviceRefs[b]} block tables hold it");
        for (int b = 0; b < slidingRefs.Length; b++)
            if (slidingRefs[b] != _sliding!.Pool.RefCount(b))
                throw Broken($"sliding-window block {b} has ref count {_sliding.Pool.RefCount(b)} but {slidingRefs[b]} block tables hold it");
        for (int b = 0; b < hostRefs.Length; b++)
            if (hostRefs[b] != _hostPool!.RefCount(b))
                throw Broken($"host block {b} has ref count {_hostPool.RefCount(b)} but {hostRefs[b]} swapped sequences hold it");
        if (waiting != _waiting.Count || running != _running.Count || swapped != _swapped.Count)
            throw Broken($"live sequences are {waiting} waiting, {running} running, {swapped} swapped; queues say {_waiting.Count}, {_running.Count}, {_swapped.Count}");
        for (int i = 1; i < _running.Count; i++)
        {
            SequenceState a = _running[i - 1], b = _running[i];
            if ((a.Priority, a.ArrivalTime, a.AdmissionOrder).CompareTo((b.Priority, b.ArrivalTime, b.AdmissionOrder)) > 0)
                throw Broken($"running set out of order at {i}: {a.Id} before {b.Id}");
        }
        foreach (var (fork, owner) in _pendingForks)
        {
            if (_live.ContainsKey(fork)) throw Broken($"fork {fork} is both pending and live");
            if (!_live.TryGetValue(owner.Id, out var live) || live != owner || owner.PendingForks is not { } forks || Array.FindIndex(forks, f => f.Id == fork) < 0)
                throw Broken($"pending fork {fork} waits for sequence {owner.Id}, which does not hold it");
            if (owner.ComputedTokens > owner.ForkPoint) throw Broken($"sequence {owner.Id} computed past its fork point with forks pending");
        }
        int inFlight = 0;
        foreach (var step in _steps) if (step.InFlight) inFlight++;
        if (inFlight != _inFlightSteps) throw Broken($"{inFlight} step objects are in flight but the count says {_inFlightSteps}");
    }

    /// <summary>
    /// A sliding table has the main table's logical length, released entries only below the window of
    /// the sequence's next write, and never more live blocks than its peak (window plus one chunk).
    /// </summary>
    private void CheckSlidingTable(SequenceState sequence, int[] slidingRefs)
    {
        var table = sequence.SlidingTable!;
        if (table.Count != sequence.Table.Count)
            throw Broken($"sequence {sequence.Id} has {table.Count} sliding-window table entries but {sequence.Table.Count} main ones");
        for (int i = 0; i < table.Count; i++)
        {
            bool released = table[i] == SlidingWindowBlocks.Released;
            if (released != (i < table.ReleasedCount))
                throw Broken($"sequence {sequence.Id} sliding-window entry {i} is {table[i]} with {table.ReleasedCount} released");
            if (!released) slidingRefs[table[i]]++;
        }
        int held = sequence.ComputedTokens + sequence.InFlightTokens;
        if (held > 0 && table.ReleasedCount > _sliding!.FirstVisibleBlock(sequence.ComputedTokens))
            throw Broken($"sequence {sequence.Id} released sliding-window blocks its next write still reads");
        int peak = _sliding!.PeakBlocks(Math.Max(1, held), MaxChunk);
        if (_sliding.LiveBlocks(table) > peak)
            throw Broken($"sequence {sequence.Id} holds {_sliding.LiveBlocks(table)} sliding-window blocks, more than the window needs ({peak})");
    }

    private static InvalidOperationException Broken(string what) => new($"scheduler invariant broken: {what}");
}
