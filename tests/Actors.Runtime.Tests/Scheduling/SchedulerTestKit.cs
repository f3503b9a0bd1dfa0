using Actors.Runtime.Scheduling;
using Xunit;

namespace Actors.Runtime.Tests.Scheduling;

/// <summary>Small settings and helpers shared by the scheduler tests.</summary>
internal static class SchedulerTestKit
{
    public static SchedulerSettings Settings(
        int budget = 64, int maxRunning = 8, int maxWaiting = 16, int blockSize = 4, int blocks = 64, int maxModelLength = 64,
        bool chunked = true, bool prefixCaching = false, PreemptionMode mode = PreemptionMode.Recompute, int inFlight = 1,
        int? longPrefill = null, int swapBlocks = 0, int priorityPreemptions = 1, double swapSecondsPerBlock = 0) => new()
    {
        MaxBatchedTokens = budget,
        MaxRunningSequences = maxRunning,
        MaxWaiting = maxWaiting,
        BlockSize = blockSize,
        NumBlocks = blocks,
        MaxModelLength = maxModelLength,
        EnableChunkedPrefill = chunked,
        EnablePrefixCaching = prefixCaching,
        PreemptionMode = mode,
        MaxInFlightSteps = inFlight,
        LongPrefillThreshold = longPrefill,
        NumSwapBlocks = swapBlocks,
        MaxPriorityPreemptionsPerStep = priorityPreemptions,
        SwapSecondsPerBlock = swapSecondsPerBlock,
    };

    /// <summary>A request whose prompt tokens are unique to its id (no accidental prefix sharing).</summary>
    public static SequenceRequest Request(long id, int promptLength, int maxNewTokens = 16, int priority = 0, double? arrivalSeconds = null) =>
        new(id, Enumerable.Range(0, promptLength).Select(i => (int)(id * 1000 + i)).ToArray(), maxNewTokens, priority,
            TimeSpan.FromSeconds(arrivalSeconds ?? id));

    public static void Add(this SchedulerPolicy policy, SequenceRequest request)
    {
        var result = policy.TryAdd(request);
        Assert.True(result.IsAccepted, result.ToString());
    }

    public static long[] Ids(this ScheduledStep step) => step.Sequences.ToArray().Select(s => s.Id).ToArray();

    public static ScheduledSequence Of(this ScheduledStep step, long id) => step.Sequences.ToArray().Single(s => s.Id == id);

    public static int IndexOf(this ScheduledStep step, long id) => Array.IndexOf(step.Ids(), id);

    /// <summary>Applies a step as if every sequence that needed logits sampled <paramref name="token"/>.</summary>
    public static UpdateResult Complete(this SchedulerPolicy policy, ScheduledStep step, int token = 7)
    {
        var tokens = Enumerable.Repeat(token, step.LogitCount).ToArray();
        var result = policy.Update(step, tokens);
        policy.CheckInvariants();
        return result;
    }

    /// <summary>Schedules and applies one step, checking invariants; returns the step's ids.</summary>
    public static long[] Step(this SchedulerPolicy policy, int token = 7)
    {
        var step = policy.Schedule();
        policy.CheckInvariants();
        var ids = step.Ids();
        policy.Complete(step, token);
        return ids;
    }
}
