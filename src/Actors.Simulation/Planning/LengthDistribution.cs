using System.Globalization;
using Actors.Inference.Synthetic;

namespace Actors.Simulation.Planning;

/// <summary>
/// A distribution of prompt or output lengths in tokens: what the analytic planner takes quantiles
/// of and what the event-driven simulation will sample from.
/// </summary>
public abstract record LengthDistribution
{
    public abstract double Mean { get; }

    /// <summary>The length below which a fraction <paramref name="p"/> of requests fall.</summary>
    public abstract int Quantile(double p);

    public abstract int Sample(ref DeterministicRandom rng);

    public static LengthDistribution Fixed(int tokens) => new FixedLength(tokens);
    public static LengthDistribution Uniform(int min, int max) => new UniformLength(min, max);
    public static LengthDistribution LogNormal(int median, double sigma) => new LogNormalLength(median, sigma);

    /// <summary>"512" (fixed), "128-1024" (uniform), "lognormal:512:0.8" (median, sigma).</summary>
    public static LengthDistribution Parse(string text)
    {
        var inv = CultureInfo.InvariantCulture;
        if (text.StartsWith("lognormal:", StringComparison.OrdinalIgnoreCase))
        {
            var parts = text.Split(':');
            if (parts.Length == 3 && int.TryParse(parts[1], inv, out int med) && double.TryParse(parts[2], inv, out double sig)) return LogNormal(med, sig);
        }
        else if (text.Contains('-'))
        {
            var parts = text.Split('-');
            if (parts.Length == 2 && int.TryParse(parts[0], inv, out int lo) && int.TryParse(parts[1], inv, out int hi)) return Uniform(lo, hi);
        }
        else if (int.TryParse(text, inv, out int n)) return Fixed(n);
        throw new FormatException($"length distribution '{text}' should be N, MIN-MAX or lognormal:MEDIAN:SIGMA");
    }

    private sealed record FixedLength : LengthDistribution
    {
        public int Tokens { get; }
        public FixedLength(int tokens)
        {
            if (tokens < 1) throw new ArgumentOutOfRangeException(nameof(tokens), tokens, "must be at least 1");
            Tokens = tokens;
        }
        public override double Mean => Tokens;
        public override int Quantile(double p) => Tokens;
        public override int Sample(ref DeterministicRandom rng) => Tokens;
        public override string ToString() => Tokens.ToString(CultureInfo.InvariantCulture);
    }

    private sealed record UniformLength : LengthDistribution
    {
        public int Min { get; }
        public int Max { get; }
        public UniformLength(int min, int max)
        {
            if (min < 1 || max < min) throw new ArgumentOutOfRangeException(nameof(min), $"uniform {min}-{max} needs 1 ≤ min ≤ max");
            Min = min;
            Max = max;
        }
        public override double Mean => (Min + Max) / 2.0;
        public override int Quantile(double p) => (int)Math.Round(Min + Math.Clamp(p, 0, 1) * (Max - Min));
        public override int Sample(ref DeterministicRandom rng) => Min + rng.NextInt(Max - Min + 1);
        public override string ToString() => $"{Min}-{Max}";
    }

    private sealed record LogNormalLength : LengthDistribution
    {
        public int Median { get; }
        public double Sigma { get; }
        public LogNormalLength(int median, double sigma)
        {
            if (median < 1 || !(sigma > 0)) throw new ArgumentOutOfRangeException(nameof(median), "lognormal needs median ≥ 1 and sigma > 0");
            Median = median;
            Sigma = sigma;
        }
        public override double Mean => Median * Math.Exp(Sigma * Sigma / 2);
        public override int Quantile(double p) => Math.Max(1, (int)Math.Round(Median * Math.Exp(Sigma * NormalQuantile(Math.Clamp(p, 1e-6, 1 - 1e-6)))));
        public override int Sample(ref DeterministicRandom rng) => Math.Max(1, (int)Math.Round(Median * Math.Exp(Sigma * rng.NextGaussian())));
        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"lognormal:{Median}:{Sigma}");

        // Abramowitz & Stegun 26.2.23 rational approximation (|error| < 4.5e-4), enough for quantiles of lengths.
        private static double NormalQuantile(double p)
        {
            double q = p < 0.5 ? p : 1 - p;
            double t = Math.Sqrt(-2 * Math.Log(q));
            double z = t - (2.515517 + 0.802853 * t + 0.010328 * t * t) / (1 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t);
            return p < 0.5 ? -z : z;
        }
    }
}
