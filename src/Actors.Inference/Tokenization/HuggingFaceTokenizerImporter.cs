using System.Text.Json;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Tokenization;

/// <summary>
/// A tokenizer vocabulary in GGUF's tokenizer.ggml.* form, imported from a Hugging Face
/// <c>tokenizer.json</c> (+ <c>tokenizer_config.json</c>) by <see cref="HuggingFaceTokenizerImporter"/>.
/// </summary>
public sealed class ImportedTokenizer
{
    /// <summary>tokenizer.ggml.model: "llama" (SentencePiece-style) or "gpt2" (byte-level BPE).</summary>
    public required string Model { get; init; }
    public string? Pre { get; init; }
    public required string[] Tokens { get; init; }
    /// <summary>SentencePiece scores; null for BPE (llama.cpp's converter writes none).</summary>
    public float[]? Scores { get; init; }
    public required int[] TokenTypes { get; init; }
    public string[]? Merges { get; init; }
    /// <summary>bos, eos, unk, sep, pad, cls, mask → token id, for those the files name.</summary>
    public required IReadOnlyDictionary<string, int> SpecialIds { get; init; }
    public bool? AddBos { get; init; }
    public bool? AddEos { get; init; }
    public bool? AddSpacePrefix { get; init; }
    public string? ChatTemplate { get; init; }
    /// <summary>Extra named templates (tokenizer.chat_template.NAME) when the config holds a list.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> NamedChatTemplates { get; init; } = [];

    public int VocabSize => Tokens.Length;

    /// <summary>Writes the tokenizer.ggml.* keys and the chat template(s).</summary>
    public void WriteTo(GgufWriter w)
    {
        w.AddString(TokenizerVocabulary.ModelKey, Model);
        if (Pre != null) w.AddString(TokenizerVocabulary.PreKey, Pre);
        w.AddArray(TokenizerVocabulary.TokensKey, GgufValueType.String, Tokens);
        if (Scores != null) w.AddArray(TokenizerVocabulary.ScoresKey, GgufValueType.Float32, Scores);
        w.AddArray(TokenizerVocabulary.TokenTypeKey, GgufValueType.Int32, TokenTypes);
        if (Merges != null) w.AddArray(TokenizerVocabulary.MergesKey, GgufValueType.String, Merges);
        foreach (var (name, id) in SpecialIds)
            w.AddUInt32(name == "unk" ? TokenizerVocabulary.UnknownKey : $"tokenizer.ggml.{name}_token_id", (uint)id);
        if (AddBos is bool addBos) w.AddBool(TokenizerVocabulary.AddBosKey, addBos);
        if (AddEos is bool addEos) w.AddBool(TokenizerVocabulary.AddEosKey, addEos);
        if (AddSpacePrefix is bool prefix) w.AddBool(TokenizerVocabulary.AddSpacePrefixKey, prefix);
        if (ChatTemplate != null) w.AddString(ChatTemplateKey, ChatTemplate);
        foreach (var (name, template) in NamedChatTemplates) w.AddString($"{ChatTemplateKey}.{name}", template);
    }

    public const string ChatTemplateKey = "tokenizer.chat_template";
}

/// <summary>
/// Reads a Hugging Face tokenizer the way llama.cpp's converter (convert_hf_to_gguf.py with gguf-py's
/// SpecialVocab) writes it to GGUF:
/// <list type="bullet">
/// <item>byte-level BPE (Llama 3, Qwen): "gpt2", tokens by id (holes become "[PADn]", unused), merges as
/// "a b", added tokens control when special (or looking special: &lt;|...|&gt;, &lt;unused...&gt;), else
/// user-defined; <c>tokenizer.ggml.pre</c> named from the pre-tokenizer's split regex.</item>
/// <item>SentencePiece-style BPE with byte fallback (Llama 2/Mistral, Gemma): "llama", &lt;0xXX&gt; tokens
/// typed byte, the unknown token unknown. The file has merges, not SentencePiece scores, so a token's
/// score is minus the rank of the first merge that builds it: llama.cpp's score-ordered merging then
/// follows the same order as Hugging Face's rank-ordered merging.</item>
/// </list>
/// bos/eos/unk/pad ids come from tokenizer_config.json's *_token entries looked up among the added
/// tokens, add_bos/add_eos from its add_*_token flags or else from the TemplateProcessing post-processor,
/// the chat template from its chat_template. Every error names the file and the field.
/// </summary>
public static class HuggingFaceTokenizerImporter
{
    private static readonly string[] SpecialTypes = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"];

    // The split regexes of the pre-tokenizers llama.cpp implements, as tokenizer.json spells them.
    private static readonly Dictionary<string, string> PreByRegex = new(StringComparer.Ordinal)
    {
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] = "llama-bpe",
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] = "qwen2",
        [@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"] = "gpt-2",
    };

    public static ImportedTokenizer Read(string tokenizerJsonPath, string? tokenizerConfigPath = null)
    {
        using var tokenizerDoc = Parse(tokenizerJsonPath);
        using var configDoc = tokenizerConfigPath is null ? null : Parse(tokenizerConfigPath);
        return Import(tokenizerDoc.RootElement, configDoc?.RootElement, Path.GetFileName(tokenizerJsonPath),
            tokenizerConfigPath is null ? "tokenizer_config.json" : Path.GetFileName(tokenizerConfigPath));
    }

    private static JsonDocument Parse(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: file not found", path);
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException($"{path}: not valid JSON ({ex.Message})");
        }
    }

    private static ImportedTokenizer Import(JsonElement tok, JsonElement? config, string tokName, string configName)
    {
        Exception Error(string message) => new ModelFormatException($"{tokName}: {message}");

        if (!tok.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw Error("field 'model' is missing");
        string type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "";
        if (type != "BPE")
            throw Error($"model.type \"{type}\" is not supported (supported: \"BPE\", byte-level or with byte_fallback)");
        bool byteFallback = model.TryGetProperty("byte_fallback", out var bf) && bf.ValueKind == JsonValueKind.True;

        // id -> text from the model's vocabulary and the added tokens.
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
            throw Error("field 'model.vocab' is missing or not an object");
        var byId = new Dictionary<int, string>();
        foreach (var entry in vocab.EnumerateObject())
        {
            if (!entry.Value.TryGetInt32(out int id) || id < 0) throw Error($"model.vocab[\"{entry.Name}\"] is not a token id");
            byId[id] = entry.Name;
        }
        var added = new List<(int Id, string Content, bool Special)>();
        if (tok.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
        {
            int i = 0;
            foreach (var a in addedTokens.EnumerateArray())
            {
                if (!a.TryGetProperty("id", out var idEl) || !idEl.TryGetInt32(out int id) || id < 0
                    || !a.TryGetProperty("content", out var c) || c.ValueKind != JsonValueKind.String)
                    throw Error($"added_tokens[{i}] needs an integer 'id' and a string 'content'");
                added.Add((id, c.GetString()!, a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True));
                byId[id] = c.GetString()!;
                i++;
            }
        }
        if (byId.Count == 0) throw Error("model.vocab is empty");
        int n = byId.Keys.Max() + 1;

        var merges = ReadMerges(model, Error);
        bool spm = byteFallback;
        var tokens = new string[n];
        var types = new int[n];
        for (int id = 0; id < n; id++)
        {
            if (byId.TryGetValue(id, out var text)) { tokens[id] = text; types[id] = (int)TokenType.Normal; }
            else { tokens[id] = $"[PAD{id}]"; types[id] = (int)TokenType.Unused; }
        }
        foreach (var (id, content, special) in added)
        {
            types[id] = (int)(special || LooksSpecial(content) ? TokenType.Control : TokenType.UserDefined);
            // User-defined tokens are matched in the raw text, before SentencePiece turns spaces into "▁"
            // (the converter does this for Gemma's whitespace-run tokens).
            if (byteFallback && types[id] == (int)TokenType.UserDefined) tokens[id] = content.Replace('\u2581', ' ');
        }

        string? unkText = model.TryGetProperty("unk_token", out var unkEl) && unkEl.ValueKind == JsonValueKind.String ? unkEl.GetString() : null;
        float[]? scores = null;
        string? pre = null;
        bool? addSpacePrefix = null;
        if (spm)
        {
            for (int id = 0; id < n; id++)
                if (tokens[id].Length == 6 && tokens[id].StartsWith("<0x", StringComparison.Ordinal) && tokens[id][5] == '>'
                    && types[id] == (int)TokenType.Normal)
                    types[id] = (int)TokenType.Byte;
            if (unkText != null && Array.IndexOf(tokens, unkText) is int u and >= 0) types[u] = (int)TokenType.Unknown;
            scores = new float[n];
            var firstRank = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int rank = 0; rank < merges.Count; rank++) firstRank.TryAdd(merges[rank].Left + merges[rank].Right, rank);
            for (int id = 0; id < n; id++)
            {
                if (types[id] != (int)TokenType.Normal) continue;
                // Built by a merge: minus its rank. A multi-character piece no merge builds: last.
                scores[id] = firstRank.TryGetValue(tokens[id], out int r) ? -r
                    : tokens[id].EnumerateRunes().Count() > 1 ? -(float)merges.Count - 1 : 0f;
            }
            addSpacePrefix = NormalizerPrepends(tok);
        }
        else
        {
            pre = PreName(tok, Error);
        }

        // Special ids: the config's *_token entries, looked up among the added tokens (gguf-py's SpecialVocab).
        var specialIds = new SortedDictionary<string, int>(StringComparer.Ordinal);
        bool? addBos = null, addEos = null;
        ReadPostProcessor(tok, added, specialIds, ref addBos, ref addEos);
        string? chatTemplate = null;
        var named = new List<KeyValuePair<string, string>>();
        if (config is JsonElement cfg)
        {
            foreach (var typ in SpecialTypes)
            {
                if (cfg.TryGetProperty($"add_{typ}_token", out var flag) && flag.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    if (typ == "bos") addBos = flag.GetBoolean();
                    if (typ == "eos") addEos = flag.GetBoolean();
                }
                if (!cfg.TryGetProperty($"{typ}_token", out var entry)) continue;
                string? content = entry.ValueKind switch
                {
                    JsonValueKind.String => entry.GetString(),
                    JsonValueKind.Object when entry.TryGetProperty("content", out var ce) && ce.ValueKind == JsonValueKind.String => ce.GetString(),
                    _ => null,
                };
                if (content is null) continue;
                foreach (var a in added)
                    if (a.Content == content) { specialIds[typ] = a.Id; break; }
            }
            if (cfg.TryGetProperty("chat_template", out var ct))
            {
                if (ct.ValueKind == JsonValueKind.String) chatTemplate = ct.GetString();
                else if (ct.ValueKind == JsonValueKind.Array)
                {
                    // [{"name": "default", "template": "..."}, {"name": "tool_use", ...}]
                    foreach (var item in ct.EnumerateArray())
                    {
                        if (!item.TryGetProperty("name", out var nm) || nm.ValueKind != JsonValueKind.String
                            || !item.TryGetProperty("template", out var tp) || tp.ValueKind != JsonValueKind.String)
                            throw new ModelFormatException($"{configName}: chat_template list entries need string 'name' and 'template'");
                        if (nm.GetString() == "default") chatTemplate = tp.GetString();
                        else named.Add(new(nm.GetString()!, tp.GetString()!));
                    }
                }
                else if (ct.ValueKind != JsonValueKind.Null)
                    throw new ModelFormatException($"{configName}: chat_template should be a string or a list of named templates");
            }
        }
        if (spm && unkText != null && !specialIds.ContainsKey("unk") && Array.IndexOf(tokens, unkText) is int unkId and >= 0)
            specialIds["unk"] = unkId;

        return new ImportedTokenizer
        {
            Model = spm ? "llama" : "gpt2", Pre = pre, Tokens = tokens, Scores = scores, TokenTypes = types,
            Merges = spm ? null : merges.Select(m => Escape(m.Left) + " " + Escape(m.Right)).ToArray(),
            SpecialIds = specialIds, AddBos = addBos, AddEos = addEos, AddSpacePrefix = addSpacePrefix,
            ChatTemplate = chatTemplate, NamedChatTemplates = named,
        };
    }

    // A space inside a merge part is written as U+0120 (gguf-py does the same), since GGUF merges are "a b".
    private static string Escape(string part) => part.Replace(' ', '\u0120');

    private static List<(string Left, string Right)> ReadMerges(JsonElement model, Func<string, Exception> error)
    {
        var merges = new List<(string, string)>();
        if (!model.TryGetProperty("merges", out var m) || m.ValueKind != JsonValueKind.Array) return merges;
        int i = 0;
        foreach (var item in m.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String)
            {
                string s = item.GetString()!;
                int space = s.IndexOf(' ', 1);
                if (space < 0) throw error($"model.merges[{i}] = \"{s}\" is not two symbols separated by a space");
                merges.Add((s[..space], s[(space + 1)..]));
            }
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2)
                merges.Add((item[0].GetString() ?? throw error($"model.merges[{i}] has a non-string part"),
                            item[1].GetString() ?? throw error($"model.merges[{i}] has a non-string part")));
            else throw error($"model.merges[{i}] is neither \"a b\" nor [\"a\", \"b\"]");
            i++;
        }
        return merges;
    }

    /// <summary>llama.cpp's converter treats these added tokens as control even when not marked special.</summary>
    public static bool LooksSpecial(string text) =>
        text is "<pad>" or "<mask>" or "<2mass>" or "[@BOS@]"
        || (text.StartsWith("<|", StringComparison.Ordinal) && text.EndsWith("|>", StringComparison.Ordinal))
        || (text.StartsWith("<\uFF5C", StringComparison.Ordinal) && text.EndsWith("\uFF5C>", StringComparison.Ordinal))
        || (text.StartsWith("<unused", StringComparison.Ordinal) && text.EndsWith('>'));

    /// <summary>True when the normalizer prepends "▁" (Llama 2's legacy SentencePiece), false when it has none.</summary>
    private static bool NormalizerPrepends(JsonElement tok)
    {
        if (!tok.TryGetProperty("normalizer", out var norm) || norm.ValueKind != JsonValueKind.Object) return false;
        IEnumerable<JsonElement> parts = norm.TryGetProperty("normalizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray() : [norm];
        return parts.Any(p => p.TryGetProperty("type", out var ty) && ty.GetString() == "Prepend");
    }

    private static string PreName(JsonElement tok, Func<string, Exception> error)
    {
        if (!tok.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object)
            throw error("field 'pre_tokenizer' is missing; a byte-level BPE needs one to name its tokenizer.ggml.pre");
        var parts = pre.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().ToList() : [pre];
        foreach (var p in parts)
        {
            string kind = p.TryGetProperty("type", out var ty) ? ty.GetString() ?? "" : "";
            if (kind == "Split" && p.TryGetProperty("pattern", out var pat) && pat.TryGetProperty("Regex", out var rx))
            {
                string regex = rx.GetString() ?? "";
                return PreByRegex.TryGetValue(regex, out var name) ? name
                    : throw error($"pre_tokenizer split regex \"{regex}\" is not one of the pre-tokenizers implemented here ({string.Join(", ", PreByRegex.Values)})");
            }
            if (kind == "ByteLevel" && p.TryGetProperty("use_regex", out var ur) && ur.ValueKind == JsonValueKind.True)
                return "gpt-2";
        }
        throw error("pre_tokenizer has no split regex and no ByteLevel with use_regex, so its tokenizer.ggml.pre cannot be named");
    }

    /// <summary>A TemplateProcessing post-processor that starts/ends with a special token sets add_bos/add_eos.</summary>
    private static void ReadPostProcessor(JsonElement tok, List<(int Id, string Content, bool Special)> added,
        SortedDictionary<string, int> specialIds, ref bool? addBos, ref bool? addEos)
    {
        if (!tok.TryGetProperty("post_processor", out var post) || post.ValueKind != JsonValueKind.Object) return;
        if (post.TryGetProperty("processors", out var list) && list.ValueKind == JsonValueKind.Array)
            post = list.EnumerateArray().FirstOrDefault(p => p.TryGetProperty("type", out var ty) && ty.GetString() == "TemplateProcessing");
        if (post.ValueKind != JsonValueKind.Object || !post.TryGetProperty("type", out var type) || type.GetString() != "TemplateProcessing") return;
        if (!post.TryGetProperty("single", out var single) || single.ValueKind != JsonValueKind.Array || single.GetArrayLength() == 0) return;

        string? SpecialAt(int index) =>
            single[index].TryGetProperty("SpecialToken", out var st) && st.TryGetProperty("id", out var id) ? id.GetString() : null;
        int IdOf(string content) => added.FindIndex(a => a.Content == content) is int i and >= 0 ? added[i].Id : -1;

        string? first = SpecialAt(0), last = single.GetArrayLength() > 1 ? SpecialAt(single.GetArrayLength() - 1) : null;
        addBos = first != null;
        addEos = last != null;
        if (first != null && IdOf(first) is int b and >= 0) specialIds["bos"] = b;
        if (last != null && IdOf(last) is int e and >= 0) specialIds["eos"] = e;
    }
}
