using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Tokenization;

/// <summary>The tokenizer family, from <c>tokenizer.ggml.model</c>.</summary>
public enum TokenizerKind
{
    /// <summary>"llama": SentencePiece with scored pieces, "▁" for spaces and &lt;0xXX&gt; byte fallback.</summary>
    SentencePiece,
    /// <summary>"gpt2": byte-level BPE with ranked merges and a regex pre-tokenizer.</summary>
    Gpt2Bpe,
}

/// <summary>The GGUF token types (<c>tokenizer.ggml.token_type</c>), with their GGUF values.</summary>
public enum TokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>
/// The tokenizer.ggml.* metadata read, checked and resolved to defaults as llama.cpp resolves them
/// (llama-vocab.cpp, <c>llama_vocab::impl::load</c>). Every error names the key and the values.
/// </summary>
internal sealed class TokenizerVocabulary
{
    public const string ModelKey = "tokenizer.ggml.model", PreKey = "tokenizer.ggml.pre", TokensKey = "tokenizer.ggml.tokens",
        ScoresKey = "tokenizer.ggml.scores", TokenTypeKey = "tokenizer.ggml.token_type", MergesKey = "tokenizer.ggml.merges",
        BosKey = "tokenizer.ggml.bos_token_id", EosKey = "tokenizer.ggml.eos_token_id", UnknownKey = "tokenizer.ggml.unknown_token_id",
        EotKey = "tokenizer.ggml.eot_token_id", EomKey = "tokenizer.ggml.eom_token_id",
        AddBosKey = "tokenizer.ggml.add_bos_token", AddEosKey = "tokenizer.ggml.add_eos_token", AddSpacePrefixKey = "tokenizer.ggml.add_space_prefix";

    public required TokenizerKind Kind { get; init; }
    public required PreTokenizerKind Pre { get; init; }
    /// <summary>Llama-3-style BPE: a pre-tokenized word that is itself a token is not merged further.</summary>
    public required bool IgnoreMerges { get; init; }
    public required string[] Tokens { get; init; }
    public required float[] Scores { get; init; }
    public required TokenType[] Types { get; init; }
    public required string[] Merges { get; init; }
    public required int BosId { get; init; }
    public required int EosId { get; init; }
    public required int UnknownId { get; init; }
    public required bool AddBos { get; init; }
    public required bool AddEos { get; init; }
    public required bool AddSpacePrefix { get; init; }
    /// <summary>Tokens that end generation, ascending (see <see cref="EndOfGenerationRules"/>).</summary>
    public required int[] EndOfGeneration { get; init; }

    // pre names as llama.cpp maps them (llama-vocab.cpp); the families whose rules are implemented here.
    private static readonly Dictionary<string, (PreTokenizerKind Kind, bool IgnoreMerges, bool AddBos)> PreNames = new()
    {
        ["default"] = (PreTokenizerKind.Default, false, false),
        ["gpt-2"] = (PreTokenizerKind.Gpt2, false, false),
        ["phi-2"] = (PreTokenizerKind.Gpt2, false, false),
        ["jina-es"] = (PreTokenizerKind.Gpt2, false, false),
        ["jina-de"] = (PreTokenizerKind.Gpt2, false, false),
        ["mpt"] = (PreTokenizerKind.Gpt2, false, false),
        ["olmo"] = (PreTokenizerKind.Gpt2, false, false),
        ["llama3"] = (PreTokenizerKind.Llama3, true, true),
        ["llama-v3"] = (PreTokenizerKind.Llama3, true, true),
        ["llama-bpe"] = (PreTokenizerKind.Llama3, true, true),
        ["falcon3"] = (PreTokenizerKind.Llama3, true, true),
        ["pixtral"] = (PreTokenizerKind.Llama3, true, true),
        ["dbrx"] = (PreTokenizerKind.Llama3, false, false),
        ["smaug-bpe"] = (PreTokenizerKind.Llama3, false, false),
        ["qwen2"] = (PreTokenizerKind.Qwen2, false, false),
        ["deepseek-r1-qwen"] = (PreTokenizerKind.Qwen2, false, false),
        ["stablelm2"] = (PreTokenizerKind.Qwen2, false, false),
    };

    public static TokenizerVocabulary Read(IReadOnlyDictionary<string, GgufValue> md, string source)
    {
        string model = String(md, ModelKey, source) ?? throw Error(source, $"metadata '{ModelKey}' is missing (expected \"llama\" or \"gpt2\")");
        TokenizerKind kind = model switch
        {
            "llama" => TokenizerKind.SentencePiece,
            "gpt2" => TokenizerKind.Gpt2Bpe,
            _ => throw Error(source, $"metadata '{ModelKey}' = \"{model}\" is not a supported tokenizer (supported: \"llama\", \"gpt2\")"),
        };

        var tokens = GetArray<string>(md, TokensKey, source) ?? throw Error(source, $"metadata '{TokensKey}' is missing");
        int n = tokens.Length;
        if (n == 0) throw Error(source, $"metadata '{TokensKey}' is empty");
        tokens = (string[])tokens.Clone();
        for (int i = 0; i < n; i++)
            if (string.IsNullOrEmpty(tokens[i])) tokens[i] = $"[EMPTY_{i}]"; // as llama.cpp does

        var scores = new float[n];
        if (md.TryGetValue(ScoresKey, out var scoresValue))
        {
            switch (scoresValue.Value)
            {
                case float[] f when f.Length == n: f.CopyTo(scores, 0); break;
                case int[] iv when iv.Length == n: for (int i = 0; i < n; i++) scores[i] = iv[i]; break;
                case float[] or int[]:
                    throw Error(source, $"metadata '{ScoresKey}' has {((Array)scoresValue.Value).Length} entries but '{TokensKey}' has {n}");
                default:
                    throw Error(source, $"metadata '{ScoresKey}' should be an array of float32 but is {Describe(scoresValue)}");
            }
        }

        var types = new TokenType[n];
        if (md.TryGetValue(TokenTypeKey, out var typesValue))
        {
            if (typesValue.Value is not int[] rawTypes)
                throw Error(source, $"metadata '{TokenTypeKey}' should be an array of int32 but is {Describe(typesValue)}");
            if (rawTypes.Length != n)
                throw Error(source, $"metadata '{TokenTypeKey}' has {rawTypes.Length} entries but '{TokensKey}' has {n}");
            for (int i = 0; i < n; i++) types[i] = rawTypes[i] is >= 0 and <= 6 ? (TokenType)rawTypes[i] : TokenType.Undefined;
        }
        else Array.Fill(types, TokenType.Normal);

        PreTokenizerKind pre = PreTokenizerKind.Default;
        bool ignoreMerges = false, addBos = true, addEos = false, addSpacePrefix = true;
        string[] merges = [];
        if (kind == TokenizerKind.Gpt2Bpe)
        {
            string? preName = String(md, PreKey, source);
            if (preName is null or "") preName = "default";
            if (!PreNames.TryGetValue(preName, out var preInfo))
                throw Error(source, $"metadata '{PreKey}' = \"{preName}\" is not a supported pre-tokenizer (supported: {string.Join(", ", PreNames.Keys.Select(k => $"\"{k}\""))})");
            (pre, ignoreMerges, addBos) = preInfo;
            addSpacePrefix = false;
            merges = GetArray<string>(md, MergesKey, source)
                ?? throw Error(source, $"metadata '{MergesKey}' is missing; a \"gpt2\" tokenizer needs its BPE merges");
            for (int i = 0; i < merges.Length; i++)
                if (merges[i] is null || merges[i].IndexOf(' ', 1) < 0)
                    throw Error(source, $"metadata '{MergesKey}'[{i}] = \"{merges[i]}\" is not two symbols separated by a space");
        }

        addBos = Bool(md, AddBosKey, source) ?? addBos;
        addEos = Bool(md, AddEosKey, source) ?? addEos;
        addSpacePrefix = Bool(md, AddSpacePrefixKey, source) ?? addSpacePrefix;

        // Ids the file omits take llama.cpp's defaults: SentencePiece unk 0, bos 1, eos 2; GPT-2 BPE bos = eos = 11.
        bool spm = kind == TokenizerKind.SentencePiece;
        int bos = TokenId(md, BosKey, source, n, spm ? (n > 1 ? 1 : -1) : (n > 11 ? 11 : -1));
        int eos = TokenId(md, EosKey, source, n, spm ? (n > 2 ? 2 : -1) : (n > 11 ? 11 : -1));
        int unk = TokenId(md, UnknownKey, source, n, spm ? 0 : -1);
        if (addBos && bos < 0) throw Error(source, $"metadata '{AddBosKey}' is true but '{BosKey}' is not set");
        if (addEos && eos < 0) throw Error(source, $"metadata '{AddEosKey}' is true but '{EosKey}' is not set");

        int eot = TokenId(md, EotKey, source, n, -1), eom = TokenId(md, EomKey, source, n, -1);
        int[] eog = EndOfGenerationRules.Resolve(tokens, types, eos, eot, eom);

        return new TokenizerVocabulary
        {
            Kind = kind, Pre = pre, IgnoreMerges = ignoreMerges, Tokens = tokens, Scores = scores, Types = types, Merges = merges,
            BosId = bos, EosId = eos, UnknownId = unk, AddBos = addBos, AddEos = addEos, AddSpacePrefix = addSpacePrefix,
            EndOfGeneration = eog,
        };
    }

    private static ModelFormatException Error(string source, string message) => new($"{source}: {message}");

    private static string Describe(GgufValue v) => v.IsArray ? $"an array of {v.ElementType}" : v.Type.ToString();

    private static string? String(IReadOnlyDictionary<string, GgufValue> md, string key, string source)
    {
        if (!md.TryGetValue(key, out var v)) return null;
        return v.Value as string ?? throw Error(source, $"metadata '{key}' should be a string but is {Describe(v)}");
    }

    private static bool? Bool(IReadOnlyDictionary<string, GgufValue> md, string key, string source)
    {
        if (!md.TryGetValue(key, out var v)) return null;
        return v.Value as bool? ?? throw Error(source, $"metadata '{key}' should be a bool but is {Describe(v)}");
    }

    private static T[]? GetArray<T>(IReadOnlyDictionary<string, GgufValue> md, string key, string source)
    {
        if (!md.TryGetValue(key, out var v)) return null;
        return v.Value as T[] ?? throw Error(source, $"metadata '{key}' should be an array of {typeof(T).Name} but is {Describe(v)}");
    }

    private static int TokenId(IReadOnlyDictionary<string, GgufValue> md, string key, string source, int vocabSize, int fallback)
    {
        if (!md.TryGetValue(key, out var v)) return fallback;
        if (!v.TryGetInt64(out long id) || v.Value is bool)
            throw Error(source, $"metadata '{key}' should be an integer token id but is {Describe(v)}");
        if (id < 0 || id >= vocabSize)
            throw Error(source, $"metadata '{key}' = {id} is outside the vocabulary of {vocabSize} tokens");
        return (int)id;
    }
}
