namespace Actors.Runtime.Scheduling;

/// <summary>What happens to a running sequence's KV when blocks run out and it is chosen as victim.</summary>
public enum PreemptionMode
{
    /// <summary>Free its blocks and requeue it; its prompt and generated tokens are recomputed as a prompt later (vLLM v1's only mode).</summary>
    Recompute = 0,
    /// <summary>Copy its blocks to host memory and back later (falls back to Recompute when host blocks run out).</summary>
    Swap = 1,
    /// <summary>Per victim, whichever <see cref="PreemptionCost"/> estimates cheaper (swap when host blocks are left).</summary>
    Auto = 2,
}

/// <summary>
/// Limits and switches of one <see cref="SchedulerPolicy"/> (one replica: one pipeline with one KV
/// block pool). Sizes are required; <see cref="Validate"/> names the first inconsistent key.
/// </summary>
public sealed record SchedulerSettings
{
    /// <summary>Token budget of one step: decode tokens plus prefill chunks.</summary>
    public required int MaxBatchedTokens { get; init; }
    /// <summary>Most sequences holding KV and being stepped at once (in flight or not).</summary>
    public required int MaxRunningSequences { get; init; }
    /// <summary>Bound of the waiting queue; admission is refused beyond it (back-pressure to clients).</summary>
    public required int MaxWaiting { get; init; }
    /// <summary>Tokens per KV block.</summary>
    public required int BlockSize { get; init; }
    /// <summary>KV blocks in the device pool.</summary>
    public required int NumBlocks { get; init; }
    /// <summary>Longest sequence (prompt + generated tokens) the model serves.</summary>
    public required int MaxModelLength { get; init; }
    /// <summary>Split prompts into chunks that fit the step's remaining budget; off: a prompt waits until it fits whole.</summary>
    public required bool EnableChunkedPrefill { get; init; }
    /// <summary>Reuse cached full KV blocks of identical prefixes.</summary>
    public required bool EnablePrefixCaching { get; init; }
    public required PreemptionMode PreemptionMode { get; init; }
    /// <summary>
    /// Steps that may be scheduled before the first one's result is applied (pipeline parallelism with
    /// S stages wants S). Steps in flight never share a sequence.
    /// </summary>
    public required int MaxInFlightSteps { get; init; }
    /// <summary>With chunked prefill: most prompt tokens one sequence may take in one step, so a long prompt cannot starve short ones. Null: no cap.</summary>
    public int? LongPrefillThreshold { get; init; }
    /// <summary>Host-side KV blocks available to <see cref="PreemptionMode.Swap"/> and <see cref="PreemptionMode.Auto"/>.</summary>
    public int NumSwapBlocks { get; init; }
    /// <summary>
    /// <see cref="PreemptionMode.Auto"/>: seconds to move one block out to host memory and back, from the
    /// device's host path. The recompute side is measured while serving (<see cref="SchedulerPolicy.RecomputeSecondsPerToken"/>).
    /// </summary>
    public double SwapSecondsPerBlock { get; init; }
    /// <summary>
    /// Most running sequences a more important waiting request may preempt in one step (0: none).
    /// Bounded so a burst of urgent arrivals cannot thrash the running set in a single step.
    /// </summary>
    public int MaxPriorityPreemptionsPerStep { get; init; } = 1;
    /// <summary>
    /// KV blocks of the sliding-window layers' own pool (<see cref="Kv.SlidingWindowBlocks"/>); 0: those
    /// layers share the main pool and every block holds all layers. With a pool of their own, swapping
    /// and KV import are off (a main block would miss the sliding layers' KV): preemption recomputes.
    /// Prefix caching and forks share blocks of both pools.
    /// </summary>
    public int NumSlidingBlocks { get; init; }
    /// <summary>Positions a sliding-window layer attends to (the query and the window − 1 before it); required with <see cref="NumSlidingBlocks"/>.</summary>
    public int SlidingWindow { get; init; }

    /// <summary>Blocks a sequence of <see cref="MaxModelLength"/> tokens needs: the width of every block table.</summary>
    public int MaxBlocksPerSequence => (MaxModelLength + BlockSize - 1) / BlockSize;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first setting that is out of range or inconsistent.</summary>
    public SchedulerSettings Validate()
    {
        Positive(MaxBatchedTokens, nameof(MaxBatchedTokens));
        Positive(MaxRunningSequences, nameof(MaxRunningSequences));
        Positive(MaxWaiting, nameof(MaxWaiting));
        Positive(BlockSize, nameof(BlockSize));
        Positive(NumBlocks, nameof(NumBlocks));
        Positive(MaxModelLength, nameof(MaxModelLength));
        Positive(MaxInFlightSteps, nameof(MaxInFlightSteps));
        if (LongPrefillThreshold is { } threshold) Positive(threshold, nameof(LongPrefillThreshold));
        if (!(SwapSecondsPerBlock >= 0)) throw new ArgumentException($"{nameof(SwapSecondsPerBlock)} must not be negative, got {SwapSecondsPerBlock}");
        if (NumSwapBlocks < 0) throw new ArgumentException($"{nameof(NumSwapBlocks)} must not be negative, got {NumSwapBlocks}");
        if (NumSlidingBlocks < 0) throw new ArgumentException($"{nameof(NumSlidingBlocks)} must not be negative, got {NumSlidingBlocks}");
        if (NumSlidingBlocks > 0 && SlidingWindow <= 0)
            throw new ArgumentException($"{nameof(NumSlidingBlocks)} is {NumSlidingBlocks} but {nameof(SlidingWindow)} is {SlidingWindow}: a sliding-window pool needs the window");
        if (MaxPriorityPreemptionsPerStep < 0)
            throw new ArgumentException($"{nameof(MaxPriorityPreemptionsPerStep)} must not be negative, got {MaxPriorityPreemptionsPerStep}");
        if (!Enum.IsDefined(PreemptionMode)) throw new ArgumentException($"{nameof(PreemptionMode)} {(int)PreemptionMode} is not a known mode");
        if (MaxBatchedTokens < MaxRunningSequences)
            throw new ArgumentException(
                $"{nameof(MaxBatchedTokens)} ({MaxBatchedTokens}) is below {nameof(MaxRunningSequences)} ({MaxRunningSequences}): " +
                "one step could not give every running sequence its decode token, and the least important would starve");
        if (!EnableChunkedPrefill && MaxBatchedTokens < MaxModelLength)
            throw new ArgumentException(
                $"{nameof(MaxBatchedTokens)} ({MaxBatchedTokens}) is below {nameof(MaxModelLength)} ({MaxModelLength}) with chunked prefill off: " +
                "a long prompt (or a preempted sequence being recomputed) could never be scheduled. Enable chunked prefill or raise the budget.");
        return this;
    }

    private static void Positive(int value, string name)
    {
        if (value <= 0) throw new ArgumentException($"{name} must be positive, got {value}");
    }
}
