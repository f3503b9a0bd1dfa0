using Actors.Inference.Compute;

namespace Actors.Runtime.Scheduling;

/// <summary>
/// Lays a <see cref="ScheduledStep"/> out as the flattened <see cref="StepBatch"/> a device executes:
/// token ids, positions, KV slots (block_id × block_size + offset), query ranges, context lengths,
/// block tables and the indices of the tokens whose logits are needed. Reuses the batch's arrays;
/// they are sized for the scheduler's maxima on first use, so steady state allocates nothing.
/// </summary>
public static class StepBatchFiller
{
    public static void Fill(ScheduledStep step, StepBatch batch)
    {
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(batch);
        // Size for the maxima (not this step's counts) so the arrays never have to grow again.
        bool sliding = step.HasSlidingPool;
        batch.EnsureCapacity(Math.Max(step.MaxTokens, step.TotalTokens), Math.Max(step.MaxSequences, step.Sequences.Length), step.BlockTableWidth, sliding);

        int blockSize = step.BlockSize;
        int width = step.BlockTableWidth;
        var sequences = step.Sequences;
        step.AllTokens.CopyTo(batch.Tokens);
        int token = 0, logits = 0;
        for (int s = 0; s < sequences.Length; s++)
        {
            ref readonly var sequence = ref sequences[s];
            var table = step.BlockTableOf(s);
            var slidingTable = sliding ? step.SlidingBlockTableOf(s) : default;
            batch.QueryStart[s] = token;
            for (int i = 0; i < sequence.TokenCount; i++, token++)
            {
                int position = sequence.StartPosition + i;
                batch.Positions[token] = position;
                batch.Slots[token] = table[position / blockSize] * blockSize + position % blockSize;
                if (sliding) batch.SlidingSlots[token] = slidingTable[position / blockSize] * blockSize + position % blockSize;
            }
            batch.ContextLength[s] = sequence.StartPosition + sequence.TokenCount;
            // The prompt is the batch (not this chunk): the same however it is chunked, preempted or recomputed.
            batch.BatchStart[s] = 0;
            batch.BatchEnd[s] = sequence.PromptLength;
            table.CopyTo(batch.BlockTables.AsSpan(s * width, width));
            if (sliding) slidingTable.CopyTo(batch.SlidingBlockTables.AsSpan(s * width, width));
            if (sequence.NeedsLogits) batch.LogitTokens[logits++] = token - 1;
        }
        batch.QueryStart[sequences.Length] = token;
        batch.TokenCount = token;
        batch.SequenceCount = sequences.Length;
        batch.LogitCount = logits;
    }
}
