using Actors.Inference.Synthetic;

namespace Actors.Cli.Bench;

/// <summary>One benchmark request: its prompt tokens, how many tokens to generate, when it arrives.</summary>
public sealed record BenchRequest(int Index, int[] Prompt, int MaxTokens, double ArrivalSeconds);

/// <summary>How request lengths spread around their mean.</summary>
public enum LengthSpread
{
    /// <summary>Uniform in [mean/2, 3·mean/2].</summary>
    Uniform,
    /// <summary>Log-normal with σ = 1 (the long tail of chat traffic such as ShareGPT), capped at 8× the mean.</summary>
    LogNormal,
}

/// <summary>
/// A reproducible workload: prompt and output lengths either fixed or drawn around their means, an
/// optional prefix shared by every prompt, and Poisson arrivals at a rate.
/// </summary>
public sealed record WorkloadSpec(int Requests, int PromptTokens, int MaxTokens, bool FixedLengths, int SharedPrefix, double RatePerSecond, ulong Seed, int VocabSize,
    LengthSpread Spread = LengthSpread.Uniform)
{
    public List<BenchRequest> Generate()
    {
        var rng = new DeterministicRandom(Seed);
        var prefix = Enumerable.Range(0, SharedPrefix).Select(_ => 3 + rng.NextInt(VocabSize - 3)).ToArray();
        var list = new List<BenchRequest>(Requests);
        double t = 0;
        for (int i = 0; i < Requests; i++)
        {
            int promptLen = Math.Max(1, Length(ref rng, PromptTokens));
            var prompt = prefix.Concat(Enumerable.Range(0, promptLen).Select(_ => 3 + rng.NextInt(VocabSize - 3))).ToArray();
            list.Add(new BenchRequest(i, prompt, Math.Max(1, Length(ref rng, MaxTokens)), t));
            if (RatePerSecond > 0) t += -Math.Log(1 - rng.NextDouble()) / RatePerSecond;
        }
        return list;
    }

    private int Length(ref DeterministicRandom rng, int mean)
    {
        if (FixedLengths) return mean;
        if (Spread == LengthSpread.Uniform) return mean / 2 + rng.NextInt(Math.Max(1, mean + 1));
        // median = mean / e^(σ²/2) with σ = 1, so the distribution's mean is the requested one (before the cap).
        double value = mean / Math.Exp(0.5) * Math.Exp(rng.NextGaussian());
        return (int)Math.Clamp(Math.Round(value), 1, 8.0 * mean);
    }

    /// <summary>The longest request this workload can produce, for the context-length check.</summary>
    public int LongestRequest => SharedPrefix + (FixedLengths ? PromptTokens + MaxTokens
        : Spread == LengthSpread.Uniform ? (PromptTokens * 3 + 1) / 2 + (MaxTokens * 3 + 1) / 2 : 8 * (PromptTokens + MaxTokens));
}
