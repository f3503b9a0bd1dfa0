using System.Text;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using LLama;
using LLama.Common;
using LLama.Native;
using Xunit;

namespace Actors.Inference.Tests.Tokenization;

/// <summary>
/// llama.cpp, through LLamaSharp's CPU backend, as the reference tokenizer. The native library is
/// configured once per process (CPU only, logs silenced) before any other LLamaSharp call.
/// </summary>
internal static class LlamaCpp
{
    public static void EnsureLoaded()
    {
        // One process-wide loader: LLamaSharp's configuration can be set only once.
        Support.LlamaCpp.EnsureLoaded();
    }

    public static LLamaWeights Load(string path)
    {
        EnsureLoaded();
        return LLamaWeights.LoadFromFile(new ModelParams(path) { GpuLayerCount = 0 });
    }

    public static int[] Tokenize(LLamaWeights weights, string text, bool addSpecial, bool parseSpecial) =>
        weights.NativeHandle.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8).Select(t => (int)t).ToArray();

    /// <summary>llama_token_to_piece with special tokens rendered, no lstrip.</summary>
    public static byte[] Piece(LLamaWeights weights, int id)
    {
        var buffer = new byte[256];
        uint n = weights.NativeHandle.TokenToSpan((LLamaToken)id, buffer, 0, true);
        if (n > buffer.Length) { buffer = new byte[n]; n = weights.NativeHandle.TokenToSpan((LLamaToken)id, buffer, 0, true); }
        return buffer.AsSpan(0, (int)n).ToArray();
    }
}

/// <summary>
/// Generated tiny models, one per vocabulary variant, written once per test run: the two kinds
/// SyntheticVocabulary builds as they are ("spm", "bpe-llama3"), and "rich" copies with extra tokens and
/// merges that cross pre-tokenizer boundaries (space runs, newlines, digit groups, contractions,
/// multi-byte characters), a user-defined and an extra control token, and, for BPE, the other
/// tokenizer.ggml.pre rules. The corpus-learned vocabulary alone never merges across those
/// boundaries, so it cannot tell a right word split from a wrong one.
/// </summary>
[CollectionDefinition(Name)]
public sealed class TokenizerModelsCollection : ICollectionFixture<TokenizerModels>
{
    public const string Name = "tokenizer models";
}

public sealed class TokenizerModels : IDisposable
{
    public const int VocabSize = 2048;
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "actors-tokenizer-tests-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<string, string> _paths = new();
    private readonly Dictionary<string, LLamaWeights> _weights = new();
    private readonly object _gate = new();

    public static readonly string[] Variants =
        ["spm", "bpe-llama3", "spm-rich", "spm-rich-noprefix-eos", "bpe-llama3-rich", "bpe-default-rich", "bpe-gpt2-rich", "bpe-qwen2-rich"];

    /// <summary>Strings the rich vocabularies can build by merges (every prefix becomes a token).</summary>
    public static readonly string[] ExtraMerged =
    [
        "  ", "   ", "    ", "\n\n", "\n\n\n", " \n", ".\n", "\t\t", " \t", "\r\n", "\r\n\r\n", "12", "123", "1234", "00", "000",
        " 1", " 12", "'s", "'t", "'ll", "'re", "'S", "it's", " it's", " (", "()", "://", "...", "!!", "?!", "é", " é", "ñ",
        "日本", "😀", " 😀", "€", " €", "—", "\u00A0\u00A0", " \u00A0", "ab", "s'", ". ", ", ", "a ", "x=", "=1",
    ];

    /// <summary>Tokens present only as whole words (no merge builds them): llama3's ignore-merges rule picks them.</summary>
    public static readonly string[] ExtraWhole = [" HELLO", "WORLD", "9999", "99"];

    public string PathOf(string variant)
    {
        lock (_gate)
        {
            if (_paths.TryGetValue(variant, out var p)) return p;
            Directory.CreateDirectory(_dir);
            string path = Path.Combine(_dir, variant + ".gguf");
            if (variant is "spm" or "bpe-llama3")
            {
                SyntheticModelGenerator.Write(path, new SyntheticModelSpec
                {
                    Vocabulary = variant == "spm" ? SyntheticVocabularyKind.SentencePiece : SyntheticVocabularyKind.Gpt2Bpe,
                    Vocab = VocabSize, Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 1, Context = 64,
                });
            }
            else
            {
                bool spm = variant.StartsWith("spm", StringComparison.Ordinal);
                string? pre = variant switch { "bpe-default-rich" => "default", "bpe-gpt2-rich" => "gpt-2", "bpe-qwen2-rich" => "qwen2", _ => null };
                Rewrite(PathOf(spm ? "spm" : "bpe-llama3"), path, pre, spm, noPrefixAddEos: variant == "spm-rich-noprefix-eos");
            }
            _paths[variant] = path;
            return path;
        }
    }

    public Actors.Inference.Tokenization.Tokenizer Tokenizer(string variant)
    {
        using var file = GgufFile.Open(PathOf(variant));
        return Actors.Inference.Tokenization.Tokenizer.FromGguf(file);
    }

    public LLamaWeights Reference(string variant)
    {
        lock (_gate)
        {
            if (!_weights.TryGetValue(variant, out var w)) _weights[variant] = w = LlamaCpp.Load(PathOf(variant));
            return w;
        }
    }

    /// <summary>Copies a GGUF with richer tokenizer metadata (and, for BPE, another pre rule).</summary>
    private static void Rewrite(string source, string destination, string? pre, bool spm, bool noPrefixAddEos)
    {
        using var file = GgufFile.Open(source);
        var tokens = ((string[])file.Metadata["tokenizer.ggml.tokens"].Value).ToList();
        var scores = ((float[])file.Metadata["tokenizer.ggml.scores"].Value).ToList();
        var types = ((int[])file.Metadata["tokenizer.ggml.token_type"].Value).ToList();
        var merges = spm ? null : ((string[])file.Metadata["tokenizer.ggml.merges"].Value).ToList();
        int slot = types.IndexOf(SyntheticVocabulary.TokenTypeUnused); // new tokens replace the unused padding
        var known = new HashSet<string>(tokens);

        void AddToken(string text, float score, int type)
        {
            if (!known.Add(text)) return;
            tokens[slot] = text; scores[slot] = score; types[slot] = type;
            slot++;
        }

        var byteToChar = SyntheticVocabulary.ByteToUnicode();
        string Form(string s) => spm
            ? s.Replace(' ', '\u2581')
            : new string(Encoding.UTF8.GetBytes(s).Select(b => byteToChar[b]).ToArray());
        List<string> Symbols(string s) => spm
            ? EnumerateRunes(s).ToList()
            : Form(s).Select(c => c.ToString()).ToList();

        foreach (var raw in ExtraMerged)
        {
            var symbols = Symbols(raw);
            string prefix = symbols[0];
            for (int i = 1; i < symbols.Count; i++)
            {
                string merged = prefix + symbols[i];
                if (spm)
                {
                    if (!known.Contains(symbols[i]) && symbols[i].Length == 1) AddToken(symbols[i], -5000f, SyntheticVocabulary.TokenTypeNormal);
                    AddToken(merged, -10f * i, SyntheticVocabulary.TokenTypeNormal); // short merges score higher
                }
                else if (!known.Contains(merged))
                {
                    merges!.Add(prefix + " " + symbols[i]);
                    AddToken(merged, 0, SyntheticVocabulary.TokenTypeNormal);
                }
                prefix = merged;
            }
        }
        foreach (var raw in ExtraWhole) AddToken(Form(raw), -1f, SyntheticVocabulary.TokenTypeNormal);
        AddToken("<tool>", 0, SyntheticVocabulary.TokenTypeUserDefined);
        AddToken("<|eot_id|>", 0, SyntheticVocabulary.TokenTypeControl);

        var w = new GgufWriter { Version = file.Version, Alignment = file.Alignment };
        foreach (var key in file.MetadataKeys)
        {
            var v = file.Metadata[key];
            switch (key)
            {
                case "tokenizer.ggml.pre" when pre != null: w.AddString(key, pre); break;
                case "tokenizer.ggml.tokens": w.AddArray(key, GgufValueType.String, tokens.ToArray()); break;
                case "tokenizer.ggml.scores": w.AddArray(key, GgufValueType.Float32, scores.ToArray()); break;
                case "tokenizer.ggml.token_type": w.AddArray(key, GgufValueType.Int32, types.ToArray()); break;
                case "tokenizer.ggml.merges": w.AddArray(key, GgufValueType.String, merges!.ToArray()); break;
                case "tokenizer.ggml.add_eos_token" when noPrefixAddEos: w.AddBool(key, true); break;
                default:
                    if (v.IsArray) w.AddArray(key, v.ElementType, (Array)v.Value);
                    else w.Add(key, v.Type, v.Value);
                    break;
            }
        }
        if (noPrefixAddEos) w.AddBool("tokenizer.ggml.add_space_prefix", false);
        foreach (var t in file.Tensors) w.AddTensor(t.Name, t.Type, t.Dims, file.TensorMemory(t).ToArray());
        w.Write(destination);
    }

    private static IEnumerable<string> EnumerateRunes(string s)
    {
        foreach (var r in s.Replace(' ', '\u2581').EnumerateRunes()) yield return r.ToString();
    }

    public void Dispose()
    {
        foreach (var w in _weights.Values) w.Dispose();
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
