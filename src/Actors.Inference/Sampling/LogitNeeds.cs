namespace Actors.Inference.Sampling;

/// <summary>
/// Whether a step's next tokens can be decided from each row's top-k logits (which a last stage can return,
/// 8·k bytes per row) or need the whole rows (4·vocabulary bytes each). Pure functions of the sampling
/// parameters, so the stage, its tests and the benchmarks agree on when the short path is taken.
/// </summary>
public static class LogitNeeds
{
    /// <summary>
    /// How many of a row's best logits decide the next token, 0 when the whole row is needed: 1 for greedy
    /// sampling (top-k, top-p and min-p do not matter then: the sampler takes the argmax), k for sampling with
    /// top-k = k below the vocabulary (the sampler draws among the k best after top-p and min-p, which only
    /// read those). What reads the whole row: the log-probability (a log-sum-exp over the vocabulary; top
    /// log-probs need it too), logit bias and the repetition, presence and frequency penalties (they change
    /// logits anywhere in the row, so the best of the raw row are not the candidates), and temperature above 0
    /// without top-k (a draw over the whole distribution).
    /// </summary>
    public static int TopKThatDecides(SamplingParameters p, int vocabSize)
    {
        if (p.LogProbs || p.TopLogProbs > 0) return 0;
        if (p.RepetitionPenalty != 1f && p.RepeatLastN != 0) return 0;
        if (p.PresencePenalty != 0f || p.FrequencyPenalty != 0f) return 0;
        if (p.LogitBias is { } bias)
            foreach (var (_, value) in bias)
                if (value != 0f) return 0;
        if (p.IsGreedy) return 1;
        return p.TopK > 0 && p.TopK < vocabSize ? p.TopK : 0;
    }

    /// <summary>
    /// The k a step asks its last stage for: the largest its rows need, when every row can be decided from its
    /// top-k and the stage offers that k (<paramref name="stageMaxTopK"/>, 0: not at all); else 0, whole rows
    /// for every row (one step is one call to the stage, so one row that needs its logits takes the step).
    /// No rows: 0.
    /// </summary>
    public static int ForStep(ReadOnlySpan<int> rowTopK, int stageMaxTopK)
    {
        if (rowTopK.IsEmpty || stageMaxTopK < 1) return 0;
        int k = 0;
        foreach (int need in rowTopK)
        {
            if (need < 1) return 0;
            k = Math.Max(k, need);
        }
        return k <= stageMaxTopK ? k : 0;
    }
}
