using Actors.Inference.Sampling;
using Actors.Inference.Synthetic;
using Xunit;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.Sampling;

public sealed class SamplerTests(ITestOutputHelper output)
{
    /// <summary>Gaussian logits with an offset, so none is zero and there are no ties.</summary>
    private static float[] RandomLogits(ref DeterministicRandom rng, int vocab, double scale = 3)
    {
        var l = new float[vocab];
        for (int i = 0; i < vocab; i++) l[i] = (float)(rng.NextGaussian() * scale + 0.25);
        return l;
    }

    private static int[] RandomTokens(ref DeterministicRandom rng, int vocab, int count, int distinct)
    {
        var t = new int[count];
        for (int i = 0; i < count; i++) t[i] = rng.NextInt(Math.Min(distinct, vocab));
        return t;
    }

    private static void AssertMatchesReference(Sampler sampler, float[] logits, int[] previous, SamplingParameters p, string label)
    {
        sampler.Sample(logits, previous, out float logProb);
        var expected = ReferenceSampler.Distribution(logits, previous, p);
        var candidates = sampler.LastCandidates.ToArray();
        var probs = sampler.LastProbabilities.ToArray();
        Assert.True(expected.Count == candidates.Length,
            $"{label}: reference keeps {expected.Count} tokens, sampler {candidates.Length}");
        for (int i = 0; i < candidates.Length; i++)
        {
            Assert.True(expected.TryGetValue(candidates[i], out double pr), $"{label}: token {candidates[i]} should have been filtered out");
            Assert.True(Math.Abs(pr - probs[i]) <= 1e-6 * Math.Max(pr, 1e-3), $"{label}: token {candidates[i]} p = {probs[i]}, reference {pr}");
        }
        Assert.Equal(1.0, probs.Sum(), 9);
    }

    [Fact]
    public void Greedy_picks_the_argmax_after_penalties_with_ties_to_the_lowest_id()
    {
        var sampler = new Sampler(SamplingParameters.Greedy, 6);
        Assert.Equal(4, sampler.Sample([0.1f, -2f, 1.5f, 0.3f, 2.5f, -0.7f], []));
        Assert.Equal(1, sampler.Sample([0.1f, 3f, 1.5f, 3f, 2.5f, 3f], []));
        Assert.Equal(2, sampler.Sample([-5f, -1f, -0.5f, -3f, -0.5f, -9f], []));
        var penalized = new Sampler(SamplingParameters.Greedy with { RepetitionPenalty = 2f }, 6);
        Assert.Equal(2, penalized.Sample([0.1f, -2f, 1.5f, 0.3f, 2.5f, -0.7f], [4])); // 2.5/2 < 1.5
    }

    [Fact]
    public void Greedy_log_prob_is_the_log_softmax_after_penalties()
    {
        var rng = new DeterministicRandom(3);
        var logits = RandomLogits(ref rng, 500);
        var p = SamplingParameters.Greedy with { FrequencyPenalty = 0.5f, RepetitionPenalty = 1.3f };
        int[] previous = RandomTokens(ref rng, 500, 40, 30);
        int token = new Sampler(p, 500).Sample(logits, previous, out float logProb);
        Assert.Equal(ReferenceSampler.Distribution(logits, previous, p).Single().Key, token);
        Assert.Equal(ReferenceSampler.LogProb(logits, previous, p, token), logProb, 4);
    }

    public static TheoryData<string, SamplingParameters> FilterCases() => new()
    {
        { "temperature 0.7", new SamplingParameters { Temperature = 0.7f } },
        { "temperature 1.6", new SamplingParameters { Temperature = 1.6f } },
        { "top-k 1", new SamplingParameters { TopK = 1 } },
        { "top-k 7", new SamplingParameters { TopK = 7 } },
        { "top-k 100", new SamplingParameters { TopK = 100, Temperature = 0.8f } },
        { "top-p 0.3", new SamplingParameters { TopP = 0.3f } },
        { "top-p 0.9", new SamplingParameters { TopP = 0.9f } },
        { "top-p 0.995", new SamplingParameters { TopP = 0.995f, Temperature = 1.3f } },
        { "min-p 0.02", new SamplingParameters { MinP = 0.02f } },
        { "min-p 0.3", new SamplingParameters { MinP = 0.3f, Temperature = 0.5f } },
        { "min-p 1", new SamplingParameters { MinP = 1f } },
        { "top-k + top-p", new SamplingParameters { TopK = 40, TopP = 0.8f } },
        { "top-k + top-p + min-p + T", new SamplingParameters { TopK = 40, TopP = 0.95f, MinP = 0.05f, Temperature = 0.8f } },
        { "penalties + everything", new SamplingParameters { TopK = 60, TopP = 0.9f, MinP = 0.01f, Temperature = 1.1f, RepetitionPenalty = 1.3f, RepeatLastN = 16, PresencePenalty = 0.4f, FrequencyPenalty = 0.3f } },
        { "logit bias + penalties + top-p", new SamplingParameters { LogitBias = new Dictionary<int, float> { [1] = 5f, [7] = -100f, [30] = 2.5f, [41] = -1.25f }, RepetitionPenalty = 1.2f, PresencePenalty = 0.3f, TopP = 0.9f, Temperature = 0.9f } },
        { "penalties over all tokens", new SamplingParameters { RepetitionPenalty = 0.8f, RepeatLastN = -1, PresencePenalty = -0.5f, FrequencyPenalty = 1.5f, TopP = 0.7f } },
    };

    [Theory]
    [MemberData(nameof(FilterCases))]
    public void Filters_agree_with_a_float64_reference(string label, SamplingParameters p)
    {
        var rng = new DeterministicRandom(DeterministicRandom.Hash(label));
        foreach (int vocab in new[] { 50, 997, 5000 })
        {
            var sampler = new Sampler(p with { Seed = 1 }, vocab);
            for (int trial = 0; trial < 20; trial++)
            {
                var logits = RandomLogits(ref rng, vocab, scale: trial % 2 == 0 ? 3 : 0.3); // peaked and flat
                int[] previous = RandomTokens(ref rng, vocab, 1 + rng.NextInt(80), 60);
                AssertMatchesReference(sampler, logits, previous, p, $"{label}, vocab {vocab}, trial {trial}");
            }
        }
    }

    [Fact]
    public void Top_p_over_a_flat_large_vocabulary_falls_back_to_a_full_sort()
    {
        var rng = new DeterministicRandom(11);
        var p = new SamplingParameters { TopP = 0.95f };
        var sampler = new Sampler(p, 20_000);
        var logits = RandomLogits(ref rng, 20_000, scale: 0.05); // mass spread over far more than 1,024 tokens
        AssertMatchesReference(sampler, logits, [], p, "flat");
        Assert.True(sampler.LastCandidates.Length > 10_000);
    }

    [Fact]
    public void Sampled_log_prob_is_the_processed_log_softmax_before_truncation()
    {
        var rng = new DeterministicRandom(5);
        var p = new SamplingParameters { TopK = 10, TopP = 0.8f, Temperature = 0.7f, PresencePenalty = 0.3f, Seed = 9 };
        var sampler = new Sampler(p, 300);
        for (int i = 0; i < 20; i++)
        {
            var logits = RandomLogits(ref rng, 300);
            int[] previous = RandomTokens(ref rng, 300, 30, 300);
            int token = sampler.Sample(logits, previous, out float logProb);
            Assert.Equal(ReferenceSampler.LogProb(logits, previous, p, token), logProb, 4);
        }
    }

    [Fact]
    public void Top_log_probs_are_the_most_likely_tokens_in_order()
    {
        var rng = new DeterministicRandom(8);
        var p = new SamplingParameters { Temperature = 0.9f, LogProbs = true, TopLogProbs = 5, Seed = 2 };
        var sampler = new Sampler(p, 1000);
        var logits = RandomLogits(ref rng, 1000);
        sampler.Sample(logits, []);
        Span<int> ids = stackalloc int[5];
        Span<float> lps = stackalloc float[5];
        Assert.Equal(5, sampler.GetTopLogProbs(ids, lps));
        var expected = Enumerable.Range(0, 1000).OrderByDescending(i => logits[i]).Take(5).ToArray();
        Assert.Equal(expected, ids.ToArray());
        for (int i = 0; i < 5; i++) Assert.Equal(ReferenceSampler.LogProb(logits, [], p, ids[i]), lps[i], 4);
    }

    [Theory]
    [InlineData(1.0f, 0, 1.0f, 0f)]
    [InlineData(0.6f, 0, 1.0f, 0f)]
    [InlineData(1.5f, 5, 0.9f, 0.05f)]
    public void Sampling_frequencies_match_the_probabilities(float temperature, int topK, float topP, float minP)
    {
        // Chi-square goodness of fit with a fixed seed: deterministic, so it cannot flake.
        float[] logits = [1.2f, 0.4f, -0.3f, 2.0f, 0.9f, -1.1f, 0.05f, 1.6f];
        var p = new SamplingParameters { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP, Seed = 12345 };
        var expected = ReferenceSampler.Distribution(logits, [], p);
        var sampler = new Sampler(p, logits.Length);
        const int n = 200_000;
        var counts = new int[logits.Length];
        for (int i = 0; i < n; i++) counts[sampler.Sample(logits, [])]++;

        double chi2 = 0;
        for (int t = 0; t < logits.Length; t++)
        {
            if (!expected.TryGetValue(t, out double pr)) { Assert.Equal(0, counts[t]); continue; }
            double e = n * pr;
            chi2 += (counts[t] - e) * (counts[t] - e) / e;
        }
        int df = expected.Count - 1;
        // Critical values of the chi-square distribution at p = 0.001.
        double[] critical = [0, 10.83, 13.82, 16.27, 18.47, 20.52, 22.46, 24.32];
        output.WriteLine($"chi2 = {chi2:F2} with {df} degrees of freedom (critical {critical[df]})");
        Assert.True(chi2 < critical[df], $"chi2 = {chi2:F2} >= {critical[df]} ({df} df): counts {string.Join(", ", counts)}");
    }

    [Fact]
    public void The_same_seed_gives_the_same_tokens_and_another_seed_does_not()
    {
        var p = new SamplingParameters { Temperature = 1.2f, TopK = 50, TopP = 0.95f, Seed = 42 };
        int[] Run(SamplingParameters parameters)
        {
            var rng = new DeterministicRandom(77);
            var sampler = new Sampler(parameters, 2000);
            var tokens = new List<int>();
            for (int i = 0; i < 200; i++) tokens.Add(sampler.Sample(RandomLogits(ref rng, 2000, 1), tokens.ToArray()));
            return tokens.ToArray();
        }
        Assert.Equal(Run(p), Run(p));
        Assert.NotEqual(Run(p), Run(p with { Seed = 43 }));
        var unseeded = new Sampler(p with { Seed = null }, 10);
        Assert.Equal(Run(p with { Seed = unseeded.Seed }), Run(p with { Seed = unseeded.Seed }));
    }

    [Fact]
    public void A_sampler_that_skips_the_draws_already_used_continues_the_seed_s_sequence()
    {
        // A request resumed after n sampled tokens (prompt + those tokens, RandomDraws = n) gives the tokens
        // the uninterrupted run gave next.
        var p = new SamplingParameters { Temperature = 0.9f, TopK = 40, TopP = 0.9f, RepetitionPenalty = 1.1f, Seed = 7 };
        var logitsRng = new DeterministicRandom(5);
        var logits = Enumerable.Range(0, 60).Select(_ => RandomLogits(ref logitsRng, 500, 1)).ToArray();
        var whole = new Sampler(p, 500);
        var tokens = new List<int>();
        foreach (var l in logits) tokens.Add(whole.Sample(l, tokens.ToArray()));
        var resumed = new Sampler(p with { RandomDraws = 25 }, 500);
        var continued = tokens.Take(25).ToList();
        foreach (var l in logits.Skip(25)) continued.Add(resumed.Sample(l, continued.ToArray()));
        Assert.Equal(tokens, continued);
        var fresh = new Sampler(p, 500);
        var restarted = tokens.Take(25).ToList();
        foreach (var l in logits.Skip(25)) restarted.Add(fresh.Sample(l, restarted.ToArray()));
        Assert.NotEqual(tokens, restarted); // without the skip the generator would repeat its first draws
        Assert.Contains("RandomDraws", Assert.Throws<ArgumentException>(() => new Sampler(p with { RandomDraws = -1 }, 500)).Message);
    }

    [Fact]
    public void The_generator_is_fixed_by_the_algorithm()
    {
        // Pin the first draws so that a change of generator (which would change every seeded run) is noticed.
        var sampler = new Sampler(new SamplingParameters { Seed = 0 }, 4);
        float[] logits = [0f, 0f, 0f, 0f];
        var tokens = Enumerable.Range(0, 16).Select(_ => sampler.Sample(logits, [])).ToArray();
        var again = new Sampler(new SamplingParameters { Seed = 0 }, 4);
        Assert.Equal(tokens, Enumerable.Range(0, 16).Select(_ => again.Sample(logits, [])).ToArray());
        output.WriteLine(string.Join(",", tokens));
        Assert.Equal(Pinned, tokens);
    }

    private static readonly int[] Pinned = [2, 2, 0, 1, 2, 3, 1, 2, 3, 3, 0, 0, 0, 2, 1, 1]; // checked against an independent xoshiro256** in Python

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_in_the_window_only()
    {
        float[] logits = [2f, -2f, 0f, 1f, 3f, -1f];
        var p = SamplingParameters.Greedy with { RepetitionPenalty = 2f, RepeatLastN = 3 };
        var sampler = new Sampler(p, 6);
        sampler.Sample(logits, [4, 5, 0, 1, 2, 0]); // window: 1, 2, 0
        Assert.Equal([1f, -4f, 0f, 1f, 3f, -1f], sampler.LastLogits.ToArray());
    }

    [Fact]
    public void Presence_and_frequency_penalties_count_every_previous_token()
    {
        float[] logits = [2f, -2f, 0.5f, 1f];
        var p = SamplingParameters.Greedy with { PresencePenalty = 0.5f, FrequencyPenalty = 0.25f, RepeatLastN = 1 };
        var sampler = new Sampler(p, 4);
        sampler.Sample(logits, [0, 0, 0, 1, 3]);
        Assert.Equal([2f - 0.75f - 0.5f, -2f - 0.25f - 0.5f, 0.5f, 1f - 0.25f - 0.5f], sampler.LastLogits.ToArray());
        sampler.Sample(logits, []); // counters start from zero again
        Assert.Equal(logits, sampler.LastLogits.ToArray());
    }

    [Fact]
    public void A_call_allocates_nothing_on_a_large_vocabulary()
    {
        const int vocab = 128_256;
        var rng = new DeterministicRandom(1);
        var logits = RandomLogits(ref rng, vocab);
        var flat = RandomLogits(ref rng, vocab, scale: 0.01);
        int[] previous = RandomTokens(ref rng, vocab, 500, vocab);
        foreach (var p in new[]
        {
            new SamplingParameters { TopK = 40, TopP = 0.9f, MinP = 0.05f, Temperature = 0.8f, RepetitionPenalty = 1.1f, PresencePenalty = 0.2f, Seed = 1 },
            new SamplingParameters { TopP = 0.9f, Seed = 1 },
            SamplingParameters.Greedy,
            SamplingParameters.Greedy with { LogitBias = Enumerable.Range(0, 300).ToDictionary(i => i * 400, i => i % 2 == 0 ? 5f : -100f) },
        })
        {
            var sampler = new Sampler(p, vocab);
            // Warm up past tiered JIT promotion, whose first optimized calls may allocate on this thread.
            for (int i = 0; i < 60; i++) sampler.Sample(i % 2 == 0 ? logits : flat, previous, out _);
            long before = GC.GetAllocatedBytesForCurrentThread();
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            for (int i = 0; i < 10; i++) sampler.Sample(i % 2 == 0 ? logits : flat, previous, out _);
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(start);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            output.WriteLine($"top-k {p.TopK}, top-p {p.TopP}, T {p.Temperature}: {elapsed.TotalMilliseconds / 10:F2} ms per call, {allocated} bytes");
            Assert.Equal(0, allocated);
        }
    }

    [Fact]
    public void Logit_bias_bans_with_minus_100_forces_with_plus_100_and_shifts_log_probs()
    {
        var rng = new DeterministicRandom(17);
        var logits = RandomLogits(ref rng, 400);
        var original = logits.ToArray();
        int argmax = Array.IndexOf(logits, logits.Max());
        var banned = new Sampler(SamplingParameters.Greedy with { LogitBias = new Dictionary<int, float> { [argmax] = -100f } }, 400);
        int second = Enumerable.Range(0, 400).Where(i => i != argmax).MaxBy(i => logits[i]);
        Assert.Equal(second, banned.Sample(logits, []));
        var forced = new Sampler(new SamplingParameters { Temperature = 1.5f, Seed = 4, LogitBias = new Dictionary<int, float> { [123] = 100f } }, 400);
        for (int i = 0; i < 50; i++) Assert.Equal(123, forced.Sample(logits, []));
        var shifted = new SamplingParameters { Temperature = 0.8f, Seed = 2, LogitBias = new Dictionary<int, float> { [3] = 4f, [9] = -3f } };
        var sampler = new Sampler(shifted, 400);
        int token = sampler.Sample(logits, [], out float lp);
        Assert.Equal(ReferenceSampler.LogProb(logits, [], shifted, token), lp, 4);
        Assert.Equal(ReferenceSampler.LogProb(logits, [], shifted, 3), sampler.LogProbOf(3), 4);
        Assert.Equal(original, logits); // the bias goes into the sampler's copy, never the caller's logits
    }

    [Fact]
    public void Bad_inputs_are_rejected()
    {
        var sampler = new Sampler(new SamplingParameters { RepetitionPenalty = 1.2f }, 4);
        Assert.Contains("expected 4 logits", Assert.Throws<ArgumentException>(() => sampler.Sample(new float[3], [])).Message);
        Assert.Contains("token 2 is NaN", Assert.Throws<ArgumentException>(() => sampler.Sample([0, 1, float.NaN, 2], [])).Message);
        Assert.Throws<ArgumentException>(() => sampler.Sample([0, float.PositiveInfinity, 1, 2], []));
        Assert.Throws<ArgumentException>(() => sampler.Sample([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity], []));
        Assert.Contains("previous token 9", Assert.Throws<ArgumentOutOfRangeException>(() => sampler.Sample([0, 1, 2, 3], [1, 9])).Message);
        Assert.Equal(1, sampler.Sample([float.NegativeInfinity, 5, float.NegativeInfinity, float.NegativeInfinity], []));
    }

    [Fact]
    public void Greedy_without_penalties_or_log_probs_picks_the_first_maximum_in_place_and_keeps_no_logits()
    {
        var rng = new DeterministicRandom(21);
        var fast = new Sampler(SamplingParameters.Greedy, 4096);
        var full = new Sampler(SamplingParameters.Greedy with { LogProbs = true }, 4096);
        for (int trial = 0; trial < 50; trial++)
        {
            var logits = RandomLogits(ref rng, 4096);
            if (trial % 5 == 0) logits[4000] = logits[17] = logits.Max() + 1; // a tie: the lower id wins
            int expected = Array.IndexOf(logits, logits.Max());
            Assert.Equal(expected, fast.Sample(logits, []));
            Assert.Equal(expected, full.Sample(logits, [], out _));
        }
        Assert.Throws<InvalidOperationException>(() => fast.LogProbOf(0));
        float[] bad = RandomLogits(ref rng, 4096);
        bad[123] = float.NaN;
        Assert.Contains("logit of token 123", Assert.Throws<ArgumentException>(() => fast.Sample(bad, [])).Message);
    }
}
