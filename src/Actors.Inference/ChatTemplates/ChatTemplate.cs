using System.Text.Json.Nodes;
using Actors.Inference.Gguf;
using Actors.Inference.Tokenization;

namespace Actors.Inference.ChatTemplates;

/// <summary>
/// A model's chat template: the file's own tokenizer.chat_template rendered by <see cref="JinjaTemplate"/>
/// with messages, add_generation_prompt, bos_token, eos_token, tools and any extra keyword arguments, as
/// Hugging Face's apply_chat_template renders it; a named built-in where the file has none.
/// </summary>
public sealed class ChatTemplate
{
    public const string MetadataKey = "tokenizer.chat_template";
    private readonly JinjaTemplate _template;

    /// <summary>Where the template came from: "model" (the file's), "built-in NAME" or a file path.</summary>
    public string Origin { get; }
    public string Source { get; }
    public string BosToken { get; }
    public string EosToken { get; }

    public ChatTemplate(string source, string origin, string bosToken, string eosToken)
    {
        Source = source;
        Origin = origin;
        BosToken = bosToken;
        EosToken = eosToken;
        try
        {
            _template = new JinjaTemplate(source);
        }
        catch (JinjaException ex)
        {
            throw new JinjaException($"chat template ({origin}): {ex.Message}");
        }
    }

    /// <summary>
    /// The template of a model: <paramref name="overrideTemplate"/> (a file path, or a built-in name) when
    /// given, else the file's tokenizer.chat_template, else the built-in its vocabulary points to.
    /// </summary>
    public static ChatTemplate ForModel(IReadOnlyDictionary<string, GgufValue> metadata, Tokenizer tokenizer, string? overrideTemplate = null)
    {
        string bos = tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "";
        string eos = tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "";
        if (overrideTemplate != null)
        {
            if (BuiltInChatTemplates.ByName.TryGetValue(overrideTemplate, out var named))
                return new ChatTemplate(named, $"built-in {overrideTemplate.ToLowerInvariant()}", bos, eos);
            if (!File.Exists(overrideTemplate))
                throw new FileNotFoundException(
                    $"chat template '{overrideTemplate}' is neither a file nor a built-in name ({string.Join(", ", BuiltInChatTemplates.ByName.Keys)})", overrideTemplate);
            return new ChatTemplate(File.ReadAllText(overrideTemplate), overrideTemplate, bos, eos);
        }
        if (metadata.TryGetValue(MetadataKey, out var value))
        {
            if (value.Value is not string source)
                throw new Model.ModelFormatException($"metadata '{MetadataKey}' should be a string");
            return new ChatTemplate(source, "model", bos, eos);
        }
        string name = BuiltInChatTemplates.ForVocabulary(t => tokenizer.TryGetTokenId(t, out _), tokenizer.Kind == TokenizerKind.SentencePiece);
        return new ChatTemplate(BuiltInChatTemplates.ByName[name], $"built-in {name}", bos, eos);
    }

    /// <summary>
    /// The prompt text. <paramref name="messages"/> are OpenAI-style message objects; <paramref name="kwargs"/>
    /// become template variables (e.g. enable_thinking).
    /// </summary>
    public string Render(JsonArray messages, bool addGenerationPrompt = true, JsonArray? tools = null, JsonObject? kwargs = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var variables = new Dictionary<string, JsonNode?>(StringComparer.Ordinal)
        {
            ["messages"] = messages,
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = BosToken,
            ["eos_token"] = EosToken,
        };
        if (tools != null) variables["tools"] = tools;
        if (kwargs != null) foreach (var (k, v) in kwargs) variables[k] = v;
        return _template.Render(variables);
    }

    /// <summary>
    /// Renders and tokenizes a conversation for generation: the template's own control tokens are parsed,
    /// the messages' text is not (a user typing "&lt;|im_end|&gt;" gets that text, not a turn boundary), and a
    /// BOS the template writes is not doubled by the tokenizer's.
    /// </summary>
    public int[] Tokenize(Tokenizer tokenizer, JsonArray messages, bool addGenerationPrompt = true, JsonArray? tools = null, JsonObject? kwargs = null)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string prompt = Render(messages, addGenerationPrompt, tools, kwargs);
        if (tokenizer.AddBosToken && BosToken.Length > 0 && prompt.StartsWith(BosToken, StringComparison.Ordinal))
            prompt = prompt[BosToken.Length..];
        var spans = LiteralSpans(prompt, messages, out var missing);
        foreach (var text in missing)
            if (!tokenizer.Encode(text, false, parseSpecial: true).AsSpan().SequenceEqual(tokenizer.Encode(text, false, parseSpecial: false)))
                throw new JinjaException(
                    $"chat template ({Origin}) changes a message holding special-token text, so that text cannot be kept literal: \"{(text.Length > 60 ? text[..60] + "..." : text)}\"");
        return tokenizer.EncodeWithLiteralSpans(prompt, addBos: true, spans);
    }

    /// <summary>Where each message's text appears in the rendered prompt (searched in order; trimmed if the template trims).</summary>
    public static List<(int Start, int Length)> LiteralSpans(string prompt, JsonArray messages, out List<string> notFound)
    {
        var spans = new List<(int, int)>();
        notFound = [];
        int from = 0;
        foreach (var text in messages.SelectMany(MessageTexts))
        {
            bool found = text.Trim().Length == 0;
            foreach (var candidate in new[] { text, text.Trim() })
            {
                if (found || candidate.Length == 0) continue;
                int at = prompt.IndexOf(candidate, from, StringComparison.Ordinal);
                if (at < 0) continue;
                spans.Add((at, candidate.Length));
                from = at + candidate.Length;
                found = true;
            }
            if (!found) notFound.Add(text);
        }
        return spans;
    }

    private static IEnumerable<string> MessageTexts(JsonNode? message)
    {
        if (message is not JsonObject m || !m.TryGetPropertyValue("content", out var content)) yield break;
        if (content is JsonValue v && v.TryGetValue(out string? s)) yield return s;
        else if (content is JsonArray parts)
            foreach (var part in parts)
                if (part is JsonObject p && p["text"] is JsonValue t && t.TryGetValue(out string? text)) yield return text;
    }
}
