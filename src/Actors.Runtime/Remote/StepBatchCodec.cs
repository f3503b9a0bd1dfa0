using Actors.Inference.Compute;

namespace Actors.Runtime.Remote;

/// <summary>A step's batch on a data connection: the counts, then each array's meaningful prefix.</summary>
public static class StepBatchCodec
{
    public static void Write(DataFrames f, StepBatch b)
    {
        f.Put(b.TokenCount);
        f.Put(b.SequenceCount);
        f.Put(b.LogitCount);
        f.Put(b.BlockTableWidth);
        f.PutArray(b.Tokens.AsSpan(0, b.TokenCount));
        f.PutArray(b.Positions.AsSpan(0, b.TokenCount));
        f.PutArray(b.Slots.AsSpan(0, b.TokenCount));
        f.PutArray(b.QueryStart.AsSpan(0, b.SequenceCount + 1));
        f.PutArray(b.ContextLength.AsSpan(0, b.SequenceCount));
        f.PutArray(b.BatchStart.AsSpan(0, b.SequenceCount));
        f.PutArray(b.BatchEnd.AsSpan(0, b.SequenceCount));
        f.PutArray(b.BlockTables.AsSpan(0, b.SequenceCount * b.BlockTableWidth));
        f.PutArray(b.LogitTokens.AsSpan(0, b.LogitCount));
    }

    /// <summary>Reads a batch into <paramref name="b"/> (grown as needed, never shrunk); every length is checked against the counts.</summary>
    public static void Read(DataFrames f, StepBatch b, int maxTokens)
    {
        int tokens = f.ReadInt(), sequences = f.ReadInt(), logits = f.ReadInt(), width = f.ReadInt();
        if (tokens < 0 || tokens > maxTokens) throw new InvalidDataException($"a step from {f.Peer} has {tokens} tokens, outside 0..{maxTokens} (the stage's max-batched-tokens)");
        if (sequences < 0 || sequences > tokens || logits < 0 || logits > tokens || width < 0 || width > 1 << 20)
            throw new InvalidDataException($"a step from {f.Peer} has inconsistent counts: {tokens} tokens, {sequences} sequences, {logits} logit rows, block tables {width} wide");
        b.EnsureCapacity(Math.Max(1, tokens), Math.Max(1, sequences), width);
        b.TokenCount = tokens;
        b.SequenceCount = sequences;
        b.LogitCount = logits;
        Array(f, b.Tokens.AsSpan(0, tokens), "token ids");
        Array(f, b.Positions.AsSpan(0, tokens), "positions");
        Array(f, b.Slots.AsSpan(0, tokens), "KV slots");
        Array(f, b.QueryStart.AsSpan(0, sequences + 1), "sequence starts");
        Array(f, b.ContextLength.AsSpan(0, sequences), "context lengths");
        Array(f, b.BatchStart.AsSpan(0, sequences), "batch starts");
        Array(f, b.BatchEnd.AsSpan(0, sequences), "batch ends");
        Array(f, b.BlockTables.AsSpan(0, sequences * width), "block tables");
        Array(f, b.LogitTokens.AsSpan(0, logits), "logit rows");
    }

    private static void Array(DataFrames f, Span<int> destination, string what)
    {
        int n = f.ReadInt();
        if (n != destination.Length) throw new InvalidDataException($"a step from {f.Peer}: {what} has {n} entries, expected {destination.Length}");
        f.ReadInto(destination);
    }
}
