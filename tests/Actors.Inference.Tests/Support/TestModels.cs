using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Support;

/// <summary>Generated models shared by the tests, cached in one folder per test run machine.</summary>
public static class TestModels
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "actors-test-models");

    public static string Path_(SyntheticModelSpec spec) => SyntheticModelGenerator.EnsureCached(spec, CacheDir);

    /// <summary>Grouped-query attention: 8 heads sharing 2 KV heads.</summary>
    public static SyntheticModelSpec Gqa(string type) => new() { Dim = 256, Heads = 8, KvHeads = 2, Ffn = 512, Layers = 2, Vocab = 384, Context = 256, WeightType = type, Seed = 11 };

    /// <summary>Multi-query attention (one KV head), Llama-3 rope base, output tied to the embedding.</summary>
    public static SyntheticModelSpec Mqa(string type) => new() { Dim = 256, Heads = 4, KvHeads = 1, Ffn = 768, Layers = 3, Vocab = 300, Context = 256, WeightType = type, RopeBase = 500000f, SeparateOutput = false, Seed = 12 };

    /// <summary>An odd number of heads (3) of size 256, linear rope scaling.</summary>
    public static SyntheticModelSpec OddHeads(string type) => new() { Dim = 256, Heads = 3, KvHeads = 3, HeadDim = 256, Ffn = 512, Layers = 2, Vocab = 320, Context = 256, WeightType = type, LinearRopeFactor = 2f, Seed = 13 };

    /// <summary>A head size that is not a power of two (96), rope base 20000, Llama-3.1 rope factors.</summary>
    public static SyntheticModelSpec OddHeadSize(string type) => new() { Dim = 256, Heads = 8, KvHeads = 4, HeadDim = 96, Ffn = 512, Layers = 2, Vocab = 400, Context = 256, WeightType = type, RopeBase = 20000f, Llama3RopeFactor = 8f, Seed = 14 };

    public static readonly string[] WeightTypes = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K", "Q4_K_M"];

    public static SyntheticModelSpec Shape(string shape, string type) => shape switch
    {
        "gqa" => Gqa(type),
        "mqa" => Mqa(type),
        "odd-heads" => OddHeads(type),
        "odd-head-size" => OddHeadSize(type),
        _ => throw new ArgumentException(shape),
    };

    public static readonly string[] Shapes = ["gqa", "mqa", "odd-heads", "odd-head-size"];

    /// <summary>Deterministic random token ids (never all zeros), avoiding the first few special ids.</summary>
    public static int[] RandomTokens(int count, int vocab, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var tokens = new int[count];
        for (int i = 0; i < count; i++) tokens[i] = 3 + rng.NextInt(vocab - 3);
        return tokens;
    }

    /// <summary>‖a − b‖ / ‖b‖.</summary>
    public static double RelativeL2(ReadOnlySpan<float> a, ReadOnlySpan<double> b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { num += (a[i] - b[i]) * (a[i] - b[i]); den += b[i] * b[i]; }
        return Math.Sqrt(num / den);
    }

    public static double RelativeL2(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double num = 0, den = 0;
        for (int i = 0; i < a.Length; i++) { num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]); den += (double)b[i] * b[i]; }
        return Math.Sqrt(num / den);
    }
}
