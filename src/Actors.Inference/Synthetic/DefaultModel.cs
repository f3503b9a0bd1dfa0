namespace Actors.Inference.Synthetic;

/// <summary>
/// The embedded default model: a small generated Llama (random weights, so its text is gibberish)
/// that every command uses when no --model is given. Made on first use into the cache folder.
/// </summary>
public static class DefaultModel
{
    public static readonly SyntheticModelSpec Spec = new()
    {
        Dim = 256,
        Layers = 4,
        Heads = 8,
        KvHeads = 4,
        Ffn = 768,
        Vocab = 512,
        Context = 2048,
        WeightType = "Q8_0",
        Seed = 2026,
    };

    public static string EnsurePath(string? cacheDir = null) => SyntheticModelGenerator.EnsureCached(Spec, cacheDir);
}
