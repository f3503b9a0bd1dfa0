using Actors.Inference.Sampling;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Internal;

/// <summary>
/// The sampler of one sequence and the tokens it has seen (prompt + generated) for the penalties.
/// Lives with the last pipeline stage, on that device's thread.
/// </summary>
internal sealed class SequenceSampling
{
    private readonly Sampler _sampler;
    private readonly List<int> _history;
    private readonly bool _logProbs;

    public SequenceSampling(SamplingOptions options, int[] prompt, int vocabSize)
    {
        _sampler = new Sampler(ToParameters(options), vocabSize);
        _logProbs = options.LogProbs;
        _history = new List<int>(prompt.Length + 64);
        _history.AddRange(prompt);
    }

    /// <summary>How many of a row's best logits decide this sequence's next token (0: it needs the whole row).</summary>
    public int TopKThatDecides => _sampler.TopKThatDecides;

    /// <summary>
    /// Samples the next token from its row's best logits (best first, at least <see cref="TopKThatDecides"/> of them):
    /// the token <see cref="Sample(ReadOnlySpan{float}, out float)"/> picks from the whole row, recorded in the history
    /// the same way. Bad logits throw <see cref="ArgumentException"/> as there.
    /// </summary>
    public int SampleFromTopK(ReadOnlySpan<int> topTokens, ReadOnlySpan<float> topLogits)
    {
        int token = _sampler.SampleFromTop(topTokens, topLogits);
        _history.Add(token);
        return token;
    }

    /// <summary>Most likely alternatives the request asked for per position (0: none).</summary>
    public int TopLogProbs => _sampler.Parameters.TopLogProbs;

    /// <summary>
    /// Samples the next token; its log-probability only when the request asked (a pass over the
    /// vocabulary), else 0; and the request's top alternatives into <paramref name="topTokens"/> and
    /// <paramref name="topLogProbs"/> (returns how many).
    /// </summary>
    public int Sample(ReadOnlySpan<float> logits, out float logProb, Span<int> topTokens, Span<float> topLogProbs, out int topCount)
    {
        int token = Sample(logits, out logProb);
        int k = TopLogProbs;
        topCount = k > 0 ? _sampler.GetTopLogProbs(topTokens[..k], topLogProbs[..k]) : 0;
        return token;
    }

    /// <summary>Samples the next token; its log-probability only when the request asked (a pass over the vocabulary), else 0.</summary>
    public int Sample(ReadOnlySpan<float> logits, out float logProb)
    {
        var history = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_history);
        int token;
        if (_logProbs) token = _sampler.Sample(logits, history, out logProb);
        else
        {
            token = _sampler.Sample(logits, history);
            logProb = 0;
        }
        _history.Add(token);
        return token;
    }

    public static SamplingParameters ToParameters(SamplingOptions o) => new()
    {
        Temperature = o.Temperature,
        TopK = o.TopK,
        TopP = o.TopP,
        MinP = o.MinP,
        RepetitionPenalty = o.RepetitionPenalty,
        RepeatLastN = o.RepeatLastN,
        PresencePenalty = o.PresencePenalty,
        FrequencyPenalty = o.FrequencyPenalty,
        Seed = o.Seed,
        RandomDraws = o.RandomDraws,
        StopSequences = o.StopSequences,
        StopTokenIds = o.StopTokenIds,
        IgnoreEos = o.IgnoreEos,
        LogProbs = o.LogProbs,
        TopLogProbs = o.TopLogProbs,
        LogitBias = o.LogitBias,
    };
}
