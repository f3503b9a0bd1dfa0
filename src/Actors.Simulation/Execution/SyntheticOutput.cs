using Actors.Inference.Synthetic;

namespace Actors.Simulation;

/// <summary>
/// What a simulated last stage "predicts". Logits are a flat floor with a few runners-up and one
/// clear winner, chosen from a generator seeded by (seed, token, position): identical batches give
/// identical samples, and any sampler (greedy, top-k, temperature) picks the winner almost surely.
/// The winner is the EOS token with <see cref="EosProbability"/> per step, so output lengths are
/// geometric with mean 1/p.
/// </summary>
public sealed record SyntheticOutput
{
    public ulong Seed { get; init; }
    public int EosTokenId { get; init; } = 2;
    /// <summary>Per-token chance that the winner is EOS (Llama's id 2 by default).</summary>
    public double EosProbability { get; init; } = 1.0 / 256;
    /// <summary>Ids below this are special (unk, bos, eos) and never chosen as ordinary output.</summary>
    public int FirstOrdinaryToken { get; init; } = 3;
    public float WinnerLogit { get; init; } = 20f;
    public int RunnersUp { get; init; } = 8;

    /// <summary>Output lengths with the given mean (geometric: p = 1/mean).</summary>
    public static SyntheticOutput WithMeanOutputLength(double meanTokens, ulong seed = 0)
    {
        if (!(meanTokens >= 1)) throw new ArgumentOutOfRangeException(nameof(meanTokens), meanTokens, "must be at least 1");
        return new SyntheticOutput { Seed = seed, EosProbability = 1.0 / meanTokens };
    }

    /// <summary>Writes one logit row for the token at <paramref name="position"/>; returns the winning id.</summary>
    public int WriteLogits(int token, int position, Span<float> row)
    {
        var rng = new DeterministicRandom(DeterministicRandom.Mix(DeterministicRandom.Mix(Seed, (ulong)token), (ulong)position));
        row.Clear();
        int vocab = row.Length;
        int span = Math.Max(1, vocab - FirstOrdinaryToken);
        for (int i = 0; i < RunnersUp; i++) row[FirstOrdinaryToken + rng.NextInt(span)] = (float)(2 + 4 * rng.NextDouble());
        int winner = rng.NextDouble() < EosProbability ? EosTokenId : FirstOrdinaryToken + rng.NextInt(span);
        if ((uint)winner < (uint)vocab) row[winner] = WinnerLogit;
        return winner;
    }
}
