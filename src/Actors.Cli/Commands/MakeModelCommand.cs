using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;

namespace Actors.Cli.Commands;

/// <summary>`actors make-model`: writes a generated GGUF of any supported architecture and shape.</summary>
public sealed class MakeModelCommand : ICommand
{
    public string Name => "make-model";
    public string Summary => "write a generated GGUF (llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3; deterministic random weights) of any shape";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("out", "output .gguf path"),
        new("arch", "architecture: llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3", "llama"),
        new("sliding-window", "sliding window of gemma2/gemma3 layers (0 = none; gemma3 needs one)", "0"),
        new("dim", "embedding length", "256"),
        new("layers", "transformer blocks", "4"),
        new("heads", "attention heads", "8"),
        new("kv-heads", "key/value heads (grouped-query attention)", "4"),
        new("head-dim", "head size (0 = dim / heads)", "0"),
        new("ffn", "feed-forward length", "768"),
        new("vocab", "vocabulary size", "512"),
        new("context", "context length", "2048"),
        new("type", "weight type: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_K_M", "Q8_0"),
        new("rope-base", "RoPE frequency base", "10000"),
        new("vocab-kind", "tokenizer: spm (llama SentencePiece) or bpe (GPT-2 / Llama 3)", "spm"),
        new("seed", "weight seed", "1"),
        new("tokenizer-json", "a Hugging Face tokenizer.json to import as the vocabulary (the embedding is sized to it)"),
        new("tokenizer-config", "its tokenizer_config.json (special tokens, add-bos flags, chat template)"),
        new("tied", "tie the output head to the token embedding", IsFlag: true),
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string path = a.RequireString("out");
        var kind = a.RequireString("vocab-kind") switch
        {
            "spm" => SyntheticVocabularyKind.SentencePiece,
            "bpe" => SyntheticVocabularyKind.Gpt2Bpe,
            var k => throw new CliException($"option '--vocab-kind' must be spm or bpe, got '{k}'"),
        };
        string arch = a.RequireString("arch");
        if (Inference.Model.ArchitectureTraits.Find(arch) is null)
            throw new CliException($"option '--arch' must be one of {Inference.Model.ArchitectureTraits.SupportedList}, got '{arch}'");
        var imported = ImportTokenizer(a);
        if (imported != null && a.Has("vocab") && a.Int("vocab", 1) != imported.VocabSize)
            throw new CliException($"option '--vocab' {a.Int("vocab", 1)} differs from the imported tokenizer's {imported.VocabSize} tokens (leave it out: the embedding is sized to the tokenizer)");
        var spec = new SyntheticModelSpec
        {
            Architecture = arch,
            SlidingWindow = a.Int("sliding-window", 0),
            Dim = a.Int("dim", 1),
            Layers = a.Int("layers", 1),
            Heads = a.Int("heads", 1),
            KvHeads = a.Int("kv-heads", 1),
            HeadDim = a.Int("head-dim", 0),
            Ffn = a.Int("ffn", 1),
            Vocab = imported?.VocabSize ?? a.Int("vocab", 1),
            ImportedVocabulary = imported,
            Context = a.Int("context", 1),
            WeightType = a.RequireString("type"),
            RopeBase = (float)a.Double("rope-base", 1.0001),
            Vocabulary = kind,
            Seed = a.ULong("seed") ?? 1,
            SeparateOutput = !a.Flag("tied"),
        };
        try
        {
            spec.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new CliException(ex.Message);
        }
        var started = DateTime.UtcNow;
        await CliProgress.Run(CliProgress.ShouldShow(json: false), $"generating {Path.GetFileName(path)}", SyntheticModelGenerator.Steps(spec), progress =>
        {
            SyntheticModelGenerator.Write(path, spec, (done, _) => progress.Report(done));
            return 0;
        });
        long bytes = new FileInfo(path).Length;
        output.WriteLine($"wrote {path}: {bytes / 1e6:F1} MB, {spec.CacheKey} in {(DateTime.UtcNow - started).TotalSeconds:F1} s");
        return 0;
    }

    private static ImportedTokenizer? ImportTokenizer(Arguments a)
    {
        string? json = a.String("tokenizer-json"), config = a.String("tokenizer-config");
        if (json is null)
            return config is null ? null : throw new CliException("option '--tokenizer-config' needs '--tokenizer-json'");
        try
        {
            return HuggingFaceTokenizerImporter.Read(json, config);
        }
        catch (Exception ex) when (ex is FileNotFoundException or Actors.Inference.Model.ModelFormatException)
        {
            throw new CliException(ex.Message);
        }
    }
}
