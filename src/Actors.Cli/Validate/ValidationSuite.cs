using Actors.Inference.Synthetic;

namespace Actors.Cli.Validate;

/// <summary>A generated model the validation runs, with a short label.</summary>
public sealed record ValidationModel(string Label, SyntheticModelSpec Spec);

/// <summary>
/// The models and steps `actors validate` times: three shapes, four weight types, every model far
/// larger than the 32 MiB L3 of the development machine (a roofline over DRAM bandwidth says nothing
/// about a model that lives in the caches), with layers as wide as real LLMs' (rows of 2048 to 11008
/// values; the float kernels' speed depends on the row length, and the probe measures rows of 4096):
/// `narrow-f32` (2048-wide layers, 500 MB), `wide-f16` and `wide-q4_k` (Llama-7B-wide layers, 4096 /
/// 11008, two of them; 840 and 240 MB) and `deep-q8_0` (eight 2048-wide layers, 455 MB). Each runs
/// decode steps at several batch sizes and one prefill chunk.
/// </summary>
public static class ValidationSuite
{
    public static IReadOnlyDictionary<string, ValidationModel> Models { get; } = new[]
    {
        new ValidationModel("narrow-f32", new SyntheticModelSpec { Dim = 2048, Layers = 2, Heads = 16, KvHeads = 4, Ffn = 5632, Vocab = 8192, Context = 1024, WeightType = "F32", Seed = 11 }),
        new ValidationModel("wide-f16", new SyntheticModelSpec { Dim = 4096, Layers = 2, Heads = 32, KvHeads = 8, Ffn = 11008, Vocab = 8192, Context = 1024, WeightType = "F16", Seed = 12 }),
        new ValidationModel("wide-q4_k", new SyntheticModelSpec { Dim = 4096, Layers = 2, Heads = 32, KvHeads = 8, Ffn = 11008, Vocab = 8192, Context = 1024, WeightType = "Q4_K", Seed = 13 }),
        new ValidationModel("deep-q8_0", new SyntheticModelSpec { Dim = 2048, Layers = 8, Heads = 16, KvHeads = 4, Ffn = 5632, Vocab = 16384, Context = 1024, WeightType = "Q8_0", Seed = 14 }),
        // Not in the default set: seconds to generate and run, for tests of the harness itself.
        new ValidationModel("tiny-f32", new SyntheticModelSpec { Dim = 128, Layers = 2, Heads = 4, KvHeads = 2, Ffn = 256, Vocab = 512, Context = 256, WeightType = "F32", Seed = 15 }),
    }.ToDictionary(m => m.Label, StringComparer.OrdinalIgnoreCase);

    public static readonly string[] DefaultModels = ["narrow-f32", "wide-f16", "wide-q4_k", "deep-q8_0"];
    public static readonly int[] DefaultBatches = [1, 4, 16, 64];
    public const int DefaultPrefillTokens = 256;
    public const int DefaultContext = 128;
}
