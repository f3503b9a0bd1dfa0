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

    /// <summary>
    /// The top-k of the row <see cref="WriteLogits"/> writes for the same token and position (ids best first, equal
    /// values to the smaller id) without writing the row: the same draws give the few ids that are set, and the
    /// floor of zeros fills the rest in id order. What a simulated last stage returns for a greedy step.
    /// </summary>
    public void WriteTopK(int token, int position, int vocab, int k, Span<int> indices, Span<float> values)
    {
        if (k < 1 || k > vocab) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in 1..{vocab}");
        var rng = new DeterministicRandom(DeterministicRandom.Mix(DeterministicRandom.Mix(Seed, (ulong)token), (ulong)position));
        int span = Math.Max(1, vocab - FirstOrdinaryToken), most = RunnersUp + 1;
        Span<int> ids = most <= 64 ? stackalloc int[most] : new int[most];
        Span<float> set = most <= 64 ? stackalloc float[most] : new float[most];
        int count = 0;
        void Put(int id, float value, Span<int> ids, Span<float> set)
        {
            int at = ids[..count].IndexOf(id); // a later write to the same id overwrites, as in the row
            if (at < 0) at = count++;
            ids[at] = id;
            set[at] = value;
        }
        for (int i = 0; i < RunnersUp; i++)
        {
            int id = FirstOrdinaryToken + rng.NextInt(span);
            Put(id, (float)(2 + 4 * rng.NextDouble()), ids, set);
        }
        int winner = rng.NextDouble() < EosProbability ? EosTokenId : FirstOrdinaryToken + rng.NextInt(span);
        if ((uint)winner < (uint)vocab) Put(winner, WinnerLogit, ids, set);
        // The set ids by value, then id (few: insertion sort).
        for (int i = 1; i < count; i++)
            for (int j = i; j > 0 && (set[j] > set[j - 1] || (set[j] == set[j - 1] && ids[j] < ids[j - 1])); j--)
            {
                (set[j], set[j - 1]) = (set[j - 1], set[j]);
                (ids[j], ids[j - 1]) = (ids[j - 1], ids[j]);
            }
        // Merge with the zeros (every id not set), which come in id order.
        int next = 0, zero = 0;
        for (int r = 0; r < k; r++)
        {
            while (zero < vocab && ids[..count].Contains(zero)) zero++;
            bool fromSet = next < count && (zero >= vocab || set[next] > 0 || (set[next] == 0 && ids[next] < zero));
            if (fromSet)
            {
                indices[r] = ids[next];
                values[r] = set[next++];
            }
            else
            {
                indices[r] = zero++;
                values[r] = 0;
            }
        }
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
