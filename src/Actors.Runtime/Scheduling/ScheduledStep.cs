using Actors.Runtime.Collections;
using Actors.Runtime.Kv;

namespace Actors.Runtime.Scheduling;

/// <summary>One sequence's share of a step.</summary>
/// <param name="Id">The sequence.</param>
/// <param name="StartPosition">Position of the first token computed now = tokens of the sequence already in the KV cache.</param>
/// <param name="TokenCount">Tokens computed now: a prefill chunk, or one decode token.</param>
/// <param name="NeedsLogits">This step computes the sequence's last known token: sample its next token from the logits.</param>
/// <param name="IsFirstStep">The workers have no state for this sequence yet (new, or being recomputed after a preemption).</param>
/// <param name="PromptLength">Prompt tokens of the original request (first-step information for the workers).</param>
/// <param name="BlockCount">Entries in the sequence's block table.</param>
/// <param name="BlocksChangedFrom">Block table entries from this index on are new or replaced since the sequence's previous step (0 on a first step or after a swap-in): what a worker that caches tables must update.</param>
public readonly record struct ScheduledSequence(
    long Id, int StartPosition, int TokenCount, bool NeedsLogits, bool IsFirstStep, int PromptLength, int BlockCount, int BlocksChangedFrom)
{
    internal int TokenOffset { get; init; }
    internal int BlockTableOffset { get; init; }
    internal int SlidingBlockTableOffset { get; init; }
}

/// <summary>A sequence preempted while scheduling a step, and how.</summary>
public readonly record struct Preemption(long Id, PreemptionMode Mode);

/// <summary>
/// What one step executes, as decided by <see cref="SchedulerPolicy.Schedule"/>. Read-only to the
/// caller and valid until it is passed back to <see cref="SchedulerPolicy.Update"/>, after which the
/// scheduler reuses the object (and its arrays) for a later step: copy out whatever must outlive it.
/// <para>Device order within a step: <see cref="SwapOut"/>, then <see cref="SwapIn"/>, then
/// <see cref="BlockCopies"/>, then the forward pass. Steps must be executed in <see cref="StepId"/>
/// order on every stage: blocks freed while a step is in flight (abort, preemption) may be handed to a
/// sequence of a later step, which is safe only because the later step writes after the earlier one.</para>
/// </summary>
public sealed class ScheduledStep
{
    private readonly ReusableList<ScheduledSequence> _sequences;
    private readonly ReusableList<int> _tokens;
    private readonly ReusableList<int> _blockTables;
    private readonly ReusableList<int> _slidingBlockTables;
    private readonly ReusableList<Preemption> _preempted = new(8);
    private readonly SequenceState?[] _states;
    private readonly int[] _incarnations;

    internal ScheduledStep(SchedulerPolicy owner, SchedulerSettings settings)
    {
        Owner = owner;
        BlockSize = settings.BlockSize;
        BlockTableWidth = settings.MaxBlocksPerSequence;
        MaxTokens = settings.MaxBatchedTokens;
        MaxSequences = settings.MaxRunningSequences;
        _sequences = new(settings.MaxRunningSequences);
        _tokens = new(settings.MaxBatchedTokens);
        _blockTables = new(Math.Max(16, settings.MaxRunningSequences * 4));
        HasSlidingPool = settings.NumSlidingBlocks > 0;
        _slidingBlockTables = new(HasSlidingPool ? Math.Max(16, settings.MaxRunningSequences * 4) : 0);
        _states = new SequenceState?[settings.MaxRunningSequences];
        _incarnations = new int[settings.MaxRunningSequences];
    }

    /// <summary>Increases by one per <see cref="SchedulerPolicy.Schedule"/> call, starting at 1.</summary>
    public long StepId { get; private set; }
    /// <summary>Tokens computed by this step (the sum of every sequence's <see cref="ScheduledSequence.TokenCount"/>).</summary>
    public int TotalTokens { get; private set; }
    /// <summary>Sequences whose logits are needed, i.e. sampled tokens <see cref="SchedulerPolicy.Update"/> expects.</summary>
    public int LogitCount { get; private set; }
    public int BlockSize { get; }
    /// <summary>Longest block table any sequence can have (fixed, so device-side tables never need re-sizing).</summary>
    public int BlockTableWidth { get; }
    /// <summary>Upper bounds on <see cref="TotalTokens"/> and the number of sequences, for sizing device buffers once.</summary>
    public int MaxTokens { get; }
    public int MaxSequences { get; }
    /// <summary>The sliding-window layers have a pool of their own: every sequence also has a <see cref="SlidingBlockTableOf"/>.</summary>
    public bool HasSlidingPool { get; }

    /// <summary>
    /// Nothing for the devices or workers to do (no sequence, swap-out or preemption): apply it with
    /// <see cref="SchedulerPolicy.Update"/> right away, and schedule again only after another update
    /// or a new request, or the loop spins. A step without sequences can still carry swap-outs and
    /// preemptions, which must be executed.
    /// </summary>
    public bool IsEmpty => _sequences.Count == 0 && SwapOutList.Count == 0 && _preempted.Count == 0;

    /// <summary>Scheduled sequences: first those that already ran (most important first), then newly resumed and admitted ones.</summary>
    public ReadOnlySpan<ScheduledSequence> Sequences => _sequences.Span;

    /// <summary>Sequences preempted while building this step (their workers' state can be dropped).</summary>
    public ReadOnlySpan<Preemption> Preempted => _preempted.Span;

    /// <summary>Copy-on-write copies (device block → device block).</summary>
    public ReadOnlySpan<BlockCopy> BlockCopies => CopiesList.Span;

    /// <summary>Copy-on-write copies in the sliding-window layers' own pool (a block two forks share, written by one).</summary>
    public ReadOnlySpan<BlockCopy> SlidingBlockCopies => SlidingCopiesList.Span;

    /// <summary>Swap-out copies (device block → host block) of sequences preempted in <see cref="PreemptionMode.Swap"/>.</summary>
    public ReadOnlySpan<BlockCopy> SwapOut => SwapOutList.Span;

    /// <summary>Swap-in copies (host block → device block) of sequences resumed this step.</summary>
    public ReadOnlySpan<BlockCopy> SwapIn => SwapInList.Span;

    /// <summary>Token ids the sequence at <paramref name="index"/> computes now.</summary>
    public ReadOnlySpan<int> TokensOf(int index)
    {
        ref readonly var s = ref _sequences.Span[index];
        return _tokens.Span.Slice(s.TokenOffset, s.TokenCount);
    }

    /// <summary>The block table of the sequence at <paramref name="index"/> as of this step.</summary>
    public ReadOnlySpan<int> BlockTableOf(int index)
    {
        ref readonly var s = ref _sequences.Span[index];
        return _blockTables.Span.Slice(s.BlockTableOffset, s.BlockCount);
    }

    /// <summary>
    /// The sequence's table into the sliding-window pool as of this step (same logical indexing and
    /// length as <see cref="BlockTableOf"/>; blocks out of the window are <see cref="SlidingWindowBlocks.Released"/>).
    /// </summary>
    public ReadOnlySpan<int> SlidingBlockTableOf(int index)
    {
        if (!HasSlidingPool) throw new InvalidOperationException("this scheduler has no sliding-window pool");
        ref readonly var s = ref _sequences.Span[index];
        return _slidingBlockTables.Span.Slice(s.SlidingBlockTableOffset, s.BlockCount);
    }

    /// <summary>Flattened token ids of all sequences in order (what the first stage embeds).</summary>
    public ReadOnlySpan<int> AllTokens => _tokens.Span;

    internal SchedulerPolicy Owner { get; }
    internal bool InFlight { get; set; }
    internal ReusableList<BlockCopy> CopiesList { get; } = new(8);
    internal ReusableList<BlockCopy> SlidingCopiesList { get; } = new(8);
    internal ReusableList<BlockCopy> SwapOutList { get; } = new(8);
    internal ReusableList<BlockCopy> SwapInList { get; } = new(8);

    internal SequenceState? StateAt(int index, out int incarnation)
    {
        incarnation = _incarnations[index];
        return _states[index];
    }

    internal void Begin(long stepId)
    {
        StepId = stepId;
        TotalTokens = LogitCount = 0;
        for (int i = 0; i < _sequences.Count; i++) _states[i] = null;
        _sequences.Clear();
        _tokens.Clear();
        _blockTables.Clear();
        _slidingBlockTables.Clear();
        _preempted.Clear();
        CopiesList.Clear();
        SlidingCopiesList.Clear();
        SwapOutList.Clear();
        SwapInList.Clear();
    }

    internal void Add(SequenceState state, int start, int count, bool needsLogits, int blocksChangedFrom)
    {
        int index = _sequences.Count;
        var table = state.Table.Blocks;
        _sequences.Add(new ScheduledSequence(state.Id, start, count, needsLogits, state.FirstStepPending, state.PromptLength, table.Length, blocksChangedFrom)
        {
            TokenOffset = _tokens.AddRange(state.Tokens.Slice(start, count)),
            BlockTableOffset = _blockTables.AddRange(table),
            SlidingBlockTableOffset = state.SlidingTable is { } sliding ? _slidingBlockTables.AddRange(sliding.Blocks) : 0,
        });
        _states[index] = state;
        _incarnations[index] = state.Incarnation;
        TotalTokens += count;
        if (needsLogits) LogitCount++;
    }

    internal void AddPreemption(long id, PreemptionMode mode) => _preempted.Add(new Preemption(id, mode));
}
