using Actors.Inference.Testing;

namespace Actors.Cli.Bench;

/// <summary>One benchmark request: its prompt tokens, how many tokens to generate, when it arrives.</summary>
public sealed record BenchRequest(int Index, int[] Prompt, int MaxTokens, double ArrivalSeconds);

/// <summary>
/// A reproducible workload: prompt and output lengths either fixed or drawn uniformly from
/// [mean/2, 3·mean/2], an optional prefix shared by every prompt, and Poisson arrivals at a rate.
/// </summary>
public sealed record WorkloadSpec(int Requests, int PromptTokens, int MaxTokens, bool FixedLengths, int SharedPrefix, double RatePerSecond, ulong Seed, int VocabSize)
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

    private int Length(ref DeterministicRandom rng, int mean) =>
        FixedLengths ? mean : mean / 2 + rng.NextInt(Math.Max(1, mean + 1));
}
