namespace Actors.Inference.Compute;

/// <summary>
/// One step's flattened batch as a device executes it: the tokens of several sequences (a prefill
/// chunk or one decode token each) laid end to end. Arrays are pre-allocated with spare capacity
/// and reused step after step; only the first <see cref="TokenCount"/> / <see cref="SequenceCount"/>
/// entries are meaningful.
/// </summary>
public sealed class StepBatch
{
    /// <summary>Token ids [TokenCount] (read by the first stage only).</summary>
    public int[] Tokens = [];
    /// <summary>Position of each token in its sequence [TokenCount].</summary>
    public int[] Positions = [];
    /// <summary>Physical KV slot each token's K and V are written to [TokenCount].</summary>
    public int[] Slots = [];
    /// <summary>Tokens of sequence s are [QueryStart[s], QueryStart[s+1]) [SequenceCount + 1].</summary>
    public int[] QueryStart = [0];
    /// <summary>Tokens in the cache for sequence s once this step's are written [SequenceCount].</summary>
    public int[] ContextLength = [];
    /// <summary>
    /// Positions [BatchStart[s], BatchEnd[s]) of sequence s are one llama.cpp batch (its prompt), whose tokens the
    /// matmuls take in llama.cpp's batch orders (<see cref="BatchOrder"/>); other tokens, such as generated ones,
    /// in its one-token orders [SequenceCount]. A function of the sequence alone, never of the step, so results
    /// stay batch-invariant. Empty (0, 0) = every token in the one-token orders.
    /// </summary>
    public int[] BatchStart = [];
    /// <summary>See <see cref="BatchStart"/> [SequenceCount].</summary>
    public int[] BatchEnd = [];
    /// <summary>Block table of sequence s at [s × BlockTableWidth, (s+1) × BlockTableWidth).</summary>
    public int[] BlockTables = [];
    public int BlockTableWidth;
    /// <summary>
    /// With a separate sliding-window pool (<see cref="KvCacheSpec.HasSlidingPool"/>): each token's slot in
    /// that pool [TokenCount], and each sequence's table into it, same width and logical indexing as
    /// <see cref="BlockTables"/>; entries of blocks that slid out of the window are -1 and never read.
    /// Empty otherwise.
    /// </summary>
    public int[] SlidingSlots = [];
    public int[] SlidingBlockTables = [];
    /// <summary>Indices of the tokens whose logits the last stage computes [LogitCount].</summary>
    public int[] LogitTokens = [];

    public int TokenCount;
    public int SequenceCount;
    public int LogitCount;

    public ReadOnlySpan<int> BlockTable(int sequence) => BlockTables.AsSpan(sequence * BlockTableWidth, BlockTableWidth);

    /// <summary>Sequence <paramref name="sequence"/>'s table into the sliding-window pool (only with one).</summary>
    public ReadOnlySpan<int> SlidingBlockTable(int sequence) => SlidingBlockTables.AsSpan(sequence * BlockTableWidth, BlockTableWidth);

    /// <summary>Grows the arrays (never shrinks) so the batch can hold the given sizes.</summary>
    public void EnsureCapacity(int tokens, int sequences, int blockTableWidth, bool slidingPool = false)
    {
        if (Tokens.Length < tokens)
        {
            Array.Resize(ref Tokens, tokens);
            Array.Resize(ref Positions, tokens);
            Array.Resize(ref Slots, tokens);
            Array.Resize(ref LogitTokens, tokens);
        }
        if (ContextLength.Length < sequences)
        {
            Array.Resize(ref ContextLength, sequences);
            Array.Resize(ref BatchStart, sequences);
            Array.Resize(ref BatchEnd, sequences);
            Array.Resize(ref QueryStart, sequences + 1);
        }
        if (BlockTables.Length < sequences * blockTableWidth || BlockTableWidth != blockTableWidth)
        {
            BlockTables = new int[Math.Max(sequences, ContextLength.Length) * blockTableWidth];
        }
        BlockTableWidth = blockTableWidth;
        // The sliding pool's slots and tables mirror the main ones (their contents are rewritten every step).
        if (slidingPool || SlidingSlots.Length > 0)
        {
            if (SlidingSlots.Length != Slots.Length) SlidingSlots = new int[Slots.Length];
            if (SlidingBlockTables.Length != BlockTables.Length) SlidingBlockTables = new int[BlockTables.Length];
        }
    }

    /// <summary>Checks the batch against a KV cache shape; throws naming the first inconsistency.</summary>
    public void Validate(KvCacheSpec kv, int vocabSize)
    {
        if (TokenCount <= 0) throw new ArgumentException("a step batch needs at least one token");
        if (kv.HasSlidingPool && (SlidingSlots.Length < TokenCount || SlidingBlockTables.Length < SequenceCount * BlockTableWidth))
            throw new ArgumentException("the KV cache has a sliding-window pool but the batch carries no sliding slots and block tables");
        if (QueryStart[0] != 0 || QueryStart[SequenceCount] != TokenCount)
            throw new ArgumentException($"sequence token ranges cover [{QueryStart[0]}, {QueryStart[SequenceCount]}), expected [0, {TokenCount})");
        for (int s = 0; s < SequenceCount; s++)
        {
            int n = QueryStart[s + 1] - QueryStart[s];
            if (n <= 0) throw new ArgumentException($"sequence {s} has no tokens in this step");
            if (ContextLength[s] < n) throw new ArgumentException($"sequence {s} has context {ContextLength[s]} shorter than its {n} new tokens");
            int blocksNeeded = (ContextLength[s] + kv.BlockSize - 1) / kv.BlockSize;
            if (blocksNeeded > BlockTableWidth) throw new ArgumentException($"sequence {s} needs {blocksNeeded} blocks but the block table is {BlockTableWidth} wide");
            var table = BlockTable(s);
            for (int b = 0; b < blocksNeeded; b++)
                if ((uint)table[b] >= (uint)kv.NumBlocks) throw new ArgumentException($"sequence {s} block {b} is {table[b]}, outside the pool of {kv.NumBlocks}");
            for (int t = QueryStart[s]; t < QueryStart[s + 1]; t++)
            {
                if (Positions[t] != ContextLength[s] - n + (t - QueryStart[s]))
                    throw new ArgumentException($"token {t} of sequence {s} has position {Positions[t]}, expected {ContextLength[s] - n + (t - QueryStart[s])}");
                int block = table[Positions[t] / kv.BlockSize];
                if (Slots[t] != block * kv.BlockSize + Positions[t] % kv.BlockSize)
                    throw new ArgumentException($"token {t} of sequence {s} writes slot {Slots[t]}, but its block table says {block * kv.BlockSize + Positions[t] % kv.BlockSize}");
                if (!kv.HasSlidingPool) continue;
                int sliding = SlidingBlockTable(s)[Positions[t] / kv.BlockSize];
                if ((uint)sliding >= (uint)kv.SlidingNumBlocks)
                    throw new ArgumentException($"token {t} of sequence {s} writes sliding-window block {sliding}, outside that pool of {kv.SlidingNumBlocks}");
                if (SlidingSlots[t] != sliding * kv.BlockSize + Positions[t] % kv.BlockSize)
                    throw new ArgumentException($"token {t} of sequence {s} writes sliding-window slot {SlidingSlots[t]}, but its sliding block table says {sliding * kv.BlockSize + Positions[t] % kv.BlockSize}");
            }
        }
        for (int i = 0; i < TokenCount; i++)
            if ((uint)Tokens[i] >= (uint)vocabSize) throw new ArgumentException($"token id {Tokens[i]} at index {i} is outside the vocabulary (0..{vocabSize - 1})");
        for (int i = 0; i < LogitCount; i++)
            if ((uint)LogitTokens[i] >= (uint)TokenCount) throw new ArgumentException($"logit row {i} asks for token {LogitTokens[i]} of {TokenCount}");
    }
}
