namespace Actors.Inference.Synthetic;

/// <summary>
/// SplitMix64: a tiny, fast generator whose sequence depends only on the seed, so generated models
/// are identical on every machine and whatever the thread count.
/// </summary>
public struct DeterministicRandom(ulong seed)
{
    private ulong _state = seed;

    public static ulong Mix(ulong a, ulong b) => Finalize(a * 0x9E3779B97F4A7C15UL ^ (b + 0xD1B54A32D192ED03UL));

    public static ulong Hash(string s)
    {
        ulong h = 1469598103934665603UL;
        foreach (char ch in s) h = (h ^ ch) * 1099511628211UL;
        return Finalize(h);
    }

    private static ulong Finalize(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    public ulong NextUInt64() => Finalize(_state += 0x9E3779B97F4A7C15UL);

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    public int NextInt(int maxExclusive) => (int)(NextUInt64() % (ulong)maxExclusive);

    /// <summary>Standard normal (Box–Muller).</summary>
    public double NextGaussian()
    {
        double u1 = 1.0 - NextDouble(), u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
