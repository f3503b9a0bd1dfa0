using Actors.Inference.Testing;

namespace Actors.Cli.Validate;

/// <summary>A generated model the validation runs, with a short label.</summary>
public sealed record ValidationModel(string Label, TestModelSpec Spec);

/// <summary>
/// The models and steps `actors validate` times. Three shapes and four weight types, every model at
/// least three times the 32 MiB L3 of the development machine (a roofline over DRAM bandwidth says
/// nothing about a model that lives in the caches): a small F32 one (118 MB, thin layers, many
/// small operations), a mid-size one in F16 (394 MB) and in Q4_K (111 MB), and a large Q8_0 one
/// (455 MB, wide layers) whose decode streams weights from DRAM. Each runs decode steps at several
/// batch sizes and one prefill chunk.
/// </summary>
public static class ValidationSuite
{
    public static IReadOnlyDictionary<string, ValidationModel> Models { get; } = new[]
    {
        new ValidationModel("small-f32", new TestModelSpec { Dim = 512, Layers = 8, Heads = 8, KvHeads = 4, Ffn = 1536, Vocab = 4096, Context = 1024, WeightType = "F32", Seed = 11 }),
        new ValidationModel("mid-f16", new TestModelSpec { Dim = 1024, Layers = 16, Heads = 16, KvHeads = 4, Ffn = 2816, Vocab = 8192, Context = 1024, WeightType = "F16", Seed = 12 }),
        new ValidationModel("mid-q4_k", new TestModelSpec { Dim = 1024, Layers = 16, Heads = 16, KvHeads = 4, Ffn = 2816, Vocab = 8192, Context = 1024, WeightType = "Q4_K", Seed = 13 }),
        new ValidationModel("large-q8_0", new TestModelSpec { Dim = 2048, Layers = 8, Heads = 16, KvHeads = 4, Ffn = 5632, Vocab = 16384, Context = 1024, WeightType = "Q8_0", Seed = 14 }),
        // Not in the default set: seconds to generate and run, for tests of the harness itself.
        new ValidationModel("tiny-f32", new TestModelSpec { Dim = 128, Layers = 2, Heads = 4, KvHeads = 2, Ffn = 256, Vocab = 512, Context = 256, WeightType = "F32", Seed = 15 }),
    }.ToDictionary(m => m.Label, StringComparer.OrdinalIgnoreCase);

    public static readonly string[] DefaultModels = ["small-f32", "mid-f16", "mid-q4_k", "large-q8_0"];
    public static readonly int[] DefaultBatches = [1, 4, 16, 64];
    public const int DefaultPrefillTokens = 256;
    public const int DefaultContext = 128;
}
