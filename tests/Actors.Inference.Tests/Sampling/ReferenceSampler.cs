using Actors.Inference.Sampling;

namespace Actors.Inference.Tests.Sampling;

/// <summary>
/// The sampling math written the plain way, in float64, with probabilities rather than logit
/// thresholds: full sort, explicit softmax, dictionaries. What the sampler must agree with.
/// </summary>
internal static class ReferenceSampler
{
    public static double[] Penalize(float[] logits, int[] previous, SamplingParameters p)
    {
        var l = logits.Select(x => (double)x).ToArray();
        if (p.LogitBias is { } bias) foreach (var (token, b) in bias) l[token] += b; // first, as llama.cpp's chain
        var counts = previous.GroupBy(t => t).ToDictionary(g => g.Key, g => g.Count());
        var window = p.RepeatLastN switch
        {
            0 => new HashSet<int>(),
            < 0 => previous.ToHashSet(),
            _ => previous.Skip(Math.Max(0, previous.Length - p.RepeatLastN)).ToHashSet(),
        };
        foreach (var (token, count) in counts)
        {
            if (p.RepetitionPenalty != 1 && window.Contains(token))
                l[token] = l[token] <= 0 ? l[token] * p.RepetitionPenalty : l[token] / p.RepetitionPenalty;
            l[token] -= count * (double)p.FrequencyPenalty + p.PresencePenalty;
        }
        return l;
    }

    /// <summary>token → probability after top-k, top-p, min-p and temperature.</summary>
    public static Dictionary<int, double> Distribution(float[] logits, int[] previous, SamplingParameters p)
    {
        double[] l = Penalize(logits, previous, p);
        var order = Enumerable.Range(0, l.Length).OrderByDescending(i => l[i]).ThenBy(i => i).ToList();
        if (p.Temperature == 0) return new Dictionary<int, double> { [order[0]] = 1 };

        if (p.TopK > 0) order = order.Take(p.TopK).ToList();
        if (p.TopP < 1)
        {
            var probs = Softmax(order.Select(i => l[i]).ToArray(), 1);
            double cumulative = 0;
            int keep = order.Count;
            for (int i = 0; i < order.Count; i++)
            {
                cumulative += probs[i];
                if (cumulative >= p.TopP) { keep = i + 1; break; }
            }
            order = order.Take(keep).ToList();
        }
        if (p.MinP > 0)
        {
            var probs = Softmax(order.Select(i => l[i]).ToArray(), 1);
            double pMax = probs.Max();
            order = order.Where((_, i) => probs[i] >= p.MinP * pMax).ToList();
        }
        var final = Softmax(order.Select(i => l[i]).ToArray(), p.Temperature);
        return order.Select((id, i) => (id, final[i])).ToDictionary(x => x.id, x => x.Item2);
    }

    /// <summary>log-softmax over the whole vocabulary of the penalized logits / T (T = 1 when greedy).</summary>
    public static double LogProb(float[] logits, int[] previous, SamplingParameters p, int token)
    {
        double t = p.Temperature == 0 ? 1 : p.Temperature;
        double[] l = Penalize(logits, previous, p).Select(x => x / t).ToArray();
        double max = l.Max();
        return l[token] - (max + Math.Log(l.Sum(x => Math.Exp(x - max))));
    }

    public static double[] Softmax(double[] logits, double temperature)
    {
        double max = logits.Max();
        var e = logits.Select(x => Math.Exp((x - max) / temperature)).ToArray();
        double z = e.Sum();
        return e.Select(x => x / z).ToArray();
    }
}
