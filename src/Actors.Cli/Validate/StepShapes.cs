using Actors.Inference.Compute;

namespace Actors.Cli.Validate;

/// <summary>
/// The step batches the validation times, laid out as the scheduler would: <c>batch</c> sequences each
/// decoding one token after <c>context − 1</c> cached ones, or one prompt chunk. Sequences own
/// consecutive runs of blocks; every sequence needs logits.
/// </summary>
public static class StepShapes
{
    /// <summary>Blocks a decode batch of this shape needs.</summary>
    public static int DecodeBlocks(int batch, int context, int blockSize) => batch * ((context + blockSize - 1) / blockSize);

    public static StepBatch Decode(int batch, int context, KvCacheSpec kv, int vocab)
    {
        int perSequence = (context + kv.BlockSize - 1) / kv.BlockSize;
        if (batch * perSequence > kv.NumBlocks) throw new ArgumentException($"{batch} sequences of {context} tokens need {batch * perSequence} KV blocks; the pool has {kv.NumBlocks}");
        var b = new StepBatch();
        b.EnsureCapacity(batch, batch, perSequence);
        b.TokenCount = batch;
        b.SequenceCount = batch;
        b.LogitCount = batch;
        for (int s = 0; s < batch; s++)
        {
            for (int i = 0; i < perSequence; i++) b.BlockTables[s * perSequence + i] = s * perSequence + i;
            int position = context - 1;
            b.Tokens[s] = 3 + (s * 7919) % (vocab - 3);
            b.Positions[s] = position;
            b.Slots[s] = (s * perSequence + position / kv.BlockSize) * kv.BlockSize + position % kv.BlockSize;
            b.QueryStart[s] = s;
            b.ContextLength[s] = context;
            b.LogitTokens[s] = s;
        }
        b.QueryStart[batch] = batch;
        return b;
    }

    /// <summary>One sequence's first <paramref name="tokens"/> prompt tokens; logits for the last only.</summary>
    public static StepBatch Prefill(int tokens, KvCacheSpec kv, int vocab)
    {
        var ids = Enumerable.Range(0, tokens).Select(i => 3 + (i * 7919) % (vocab - 3)).ToArray();
        return SequenceBatch.Create(ids, 0, kv, allLogits: false);
    }
}
