namespace Actors.Inference.Compute;

/// <summary>
/// Builds the batch of a single sequence laid out in consecutive blocks (block i of the sequence is
/// physical block i), for tools and tests that run one sequence without the scheduler.
/// </summary>
public static class SequenceBatch
{
    /// <summary>Tokens at positions [start, start + tokens.Length); logits for every token or the last only.</summary>
    public static StepBatch Create(ReadOnlySpan<int> tokens, int start, KvCacheSpec kv, bool allLogits, StepBatch? reuse = null)
    {
        var b = reuse ?? new StepBatch();
        int n = tokens.Length, context = start + n;
        int blocks = (context + kv.BlockSize - 1) / kv.BlockSize;
        if (blocks > kv.NumBlocks) throw new ArgumentException($"{context} tokens need {blocks} KV blocks; the pool has {kv.NumBlocks}");
        if (kv.HasSlidingPool && blocks > kv.SlidingNumBlocks)
            throw new ArgumentException($"{context} tokens need {blocks} consecutive sliding-window KV blocks; that pool has {kv.SlidingNumBlocks}");
        b.EnsureCapacity(n, 1, Math.Max(blocks, 1), kv.HasSlidingPool);
        b.TokenCount = n;
        b.SequenceCount = 1;
        b.QueryStart[0] = 0;
        b.QueryStart[1] = n;
        b.ContextLength[0] = context;
        // As one llama_decode of these tokens.
        b.BatchStart[0] = start;
        b.BatchEnd[0] = context;
        for (int i = 0; i < blocks; i++) b.BlockTables[i] = i;
        if (kv.HasSlidingPool) for (int i = 0; i < blocks; i++) b.SlidingBlockTables[i] = i;
        for (int i = 0; i < n; i++)
        {
            b.Tokens[i] = tokens[i];
            b.Positions[i] = start + i;
            b.Slots[i] = start + i; // block i/blockSize is physical block i/blockSize
            if (kv.HasSlidingPool) b.SlidingSlots[i] = start + i;
        }
        b.LogitCount = allLogits ? n : 1;
        for (int i = 0; i < b.LogitCount; i++) b.LogitTokens[i] = allLogits ? i : n - 1;
        return b;
    }
}
