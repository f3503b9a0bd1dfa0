using Actors.Inference.Compute;

namespace Actors.Simulation.Cost;

/// <summary>One sequence's part of a step: tokens computed now and its context once they are written.</summary>
public readonly record struct SequenceWork(int NewTokens, int ContextLength)
{
    /// <summary>
    /// (query, key) pairs causal attention visits: the i-th new token (0-based) sees
    /// ContextLength − NewTokens + i + 1 keys, so the sum is q·c − q(q−1)/2.
    /// </summary>
    public long AttentionPairs => (long)NewTokens * ContextLength - (long)NewTokens * (NewTokens - 1) / 2;
}

/// <summary>
/// The shape of one step's batch as far as cost goes: per sequence how many tokens are computed and
/// how long its context is, plus how many logit rows the last stage produces. No token ids.
/// </summary>
public sealed record BatchShape(IReadOnlyList<SequenceWork> Sequences, int LogitRows)
{
    public int TokenCount => Sequences.Sum(s => s.NewTokens);
    public long ContextTokens => Sequences.Sum(s => (long)s.ContextLength);
    public long AttentionPairs => Sequences.Sum(s => s.AttentionPairs);

    /// <summary><paramref name="batch"/> sequences each decoding one token at context <paramref name="context"/>.</summary>
    public static BatchShape Decode(int batch, int context)
        => new(Enumerable.Repeat(new SequenceWork(1, context), batch).ToArray(), batch);

    /// <summary>One prompt chunk of <paramref name="tokens"/> after <paramref name="priorContext"/> cached tokens; one logit row.</summary>
    public static BatchShape Prefill(int tokens, int priorContext = 0)
        => new([new SequenceWork(tokens, priorContext + tokens)], 1);

    /// <summary>Decodes plus one prefill chunk in the same step (chunked prefill, vLLM v1 style).</summary>
    public static BatchShape Mixed(int decodes, int decodeContext, int prefillTokens, int prefillPriorContext = 0)
    {
        var list = new List<SequenceWork>(decodes + 1);
        for (int i = 0; i < decodes; i++) list.Add(new SequenceWork(1, decodeContext));
        if (prefillTokens > 0) list.Add(new SequenceWork(prefillTokens, prefillPriorContext + prefillTokens));
        return new BatchShape(list, decodes + (prefillTokens > 0 ? 1 : 0));
    }

    /// <summary>The shape of a runtime step batch.</summary>
    public static BatchShape From(StepBatch batch)
    {
        var list = new SequenceWork[batch.SequenceCount];
        for (int s = 0; s < batch.SequenceCount; s++)
            list[s] = new SequenceWork(batch.QueryStart[s + 1] - batch.QueryStart[s], batch.ContextLength[s]);
        return new BatchShape(list, batch.LogitCount);
    }
}
