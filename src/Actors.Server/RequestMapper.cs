using System.Text.Json;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>
/// Maps an OpenAI request body to a <see cref="Generate"/>, checking every field's type and range and
/// the request limits first (nothing is tokenized before the prompt's length is known to fit);
/// anything unusable is a <see cref="BadRequest"/> naming the field. Ranges follow OpenAI's API reference.
/// </summary>
public static class RequestMapper
{
    public sealed class BadRequest(string message, string? param) : Exception(message)
    {
        public string? Param { get; } = param;
    }

    /// <summary>What the mapper needs besides the body: the limits, whether a client's priority counts, and the chat prompt builder.</summary>
    public sealed record Context(RequestLimits Limits, int MaxPromptChars, bool AllowClientPriority, ChatPromptBuilder Template, TimeSpan MaxDuration = default, int VocabSize = int.MaxValue);

    public static Generate ToGenerate(CompletionRequest body, bool chat, Context context, string id)
    {
        var limits = context.Limits;
        if (body.N is { } n && n < 1) throw new BadRequest($"n = {n} must be at least 1", "n");
        if (body.N is { } many && many > limits.MaxChoices)
            throw new BadRequest($"n = {many} is more than the {limits.MaxChoices} choices allowed per request (actors-server.limits.max-choices)", "n");
        CheckRange(body.MaxTokens, 1, int.MaxValue, "max_tokens");
        CheckRange(body.MaxCompletionTokens, 1, int.MaxValue, "max_completion_tokens");
        CheckRange(body.Temperature, 0, 2, "temperature");
        CheckRange(body.TopP, 0, 1, "top_p");
        CheckRange(body.MinP, 0, 1, "min_p");
        CheckRange(body.PresencePenalty, -2, 2, "presence_penalty");
        CheckRange(body.FrequencyPenalty, -2, 2, "frequency_penalty");
        if (body.TopK is < -1) throw new BadRequest($"top_k = {body.TopK} must be -1 or 0 (off) or a positive count", "top_k");
        if (body.RepetitionPenalty is { } rp && !(float.IsFinite(rp) && rp > 0 && rp <= 10))
            throw new BadRequest($"repetition_penalty = {rp} is out of range: allowed above 0 up to 10", "repetition_penalty");

        UnsupportedFields.Check(body, chat);
        ReadStreamOptions(body);
        var (logProbs, topLogProbs) = chat ? ReadChatLogProbs(body) : ReadCompletionLogProbs(body);
        var logitBias = LogitBiasReader.Read(body.LogitBias, context.VocabSize);

        string? prompt = null;
        int[]? tokens = null;
        if (chat)
        {
            if (body.Prompt.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
                throw new BadRequest("prompt is not a chat completion field: send messages", "prompt");
            CheckMessages(body.Messages, limits.MaxMessages, context.MaxPromptChars);
            // Token ids, not text: the template's control tokens are parsed, the messages' text never is.
            tokens = context.Template.Build(body);
        }
        else
        {
            if (body.Messages is not null) throw new BadRequest("messages is a chat completion field: send prompt to /v1/completions, or messages to /v1/chat/completions", "messages");
            (prompt, tokens) = ReadPrompt(body.Prompt, context.MaxPromptChars);
        }
        return new Generate
        {
            RequestId = id,
            Prompt = prompt,
            PromptTokens = tokens,
            MaxTokens = body.MaxCompletionTokens ?? body.MaxTokens,
            // A client's priority would let it jump the queue: honoured only where the deployment allows it.
            Priority = context.AllowClientPriority ? body.Priority ?? 0 : 0,
            AddBos = true,
            ParseSpecialTokens = false,
            DeadlineUtc = context.MaxDuration > TimeSpan.Zero ? DateTime.UtcNow + context.MaxDuration : null,
            Sampling = new SamplingOptions
            {
                Temperature = body.Temperature ?? 1.0f,
                TopP = body.TopP ?? 1.0f,
                TopK = Math.Max(0, body.TopK ?? 0),
                MinP = body.MinP ?? 0,
                PresencePenalty = body.PresencePenalty ?? 0,
                FrequencyPenalty = body.FrequencyPenalty ?? 0,
                RepetitionPenalty = body.RepetitionPenalty ?? 1,
                Seed = body.Seed is { } seed ? unchecked((ulong)seed) : null,
                StopSequences = ReadStops(body.Stop, limits),
                IgnoreEos = body.IgnoreEos,
                LogProbs = logProbs,
                TopLogProbs = topLogProbs,
                LogitBias = logitBias,
            },
        };
    }

    /// <summary>
    /// The n choices of a request, each its own sequence: the same prompt (started as one group, the
    /// runtime computes it once and the choices share its KV blocks), ids suffixed "-1", "-2", ..., and a
    /// given seed advanced by the choice's index so the choices differ yet stay reproducible.
    /// </summary>
    public static IReadOnlyList<Generate> Choices(Generate first, int n) =>
        Enumerable.Range(0, Math.Max(1, n)).Select(i => i == 0 ? first : first with
        {
            RequestId = $"{first.RequestId}-{i}",
            Sampling = first.Sampling with { Seed = first.Sampling.Seed is { } seed ? unchecked(seed + (ulong)i) : null },
        }).ToList();

    private static IReadOnlyList<ChatMessage> CheckMessages(List<ChatMessage>? messages, int maxMessages, int maxChars)
    {
        if (messages is not { Count: > 0 }) throw new BadRequest("messages must be a non-empty array", "messages");
        if (messages.Count > maxMessages) throw new BadRequest($"messages has {messages.Count} entries; at most {maxMessages} are allowed", "messages");
        long chars = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            var m = messages[i] ?? throw new BadRequest($"messages[{i}] is null; each message is an object with role and content", $"messages[{i}]");
            if (m.Role is not ("system" or "user" or "assistant" or "tool" or "developer"))
                throw new BadRequest($"messages[{i}].role '{m.Role}' is not one of system, developer, user, assistant, tool", $"messages[{i}].role");
            chars += CheckContent(m.Content, $"messages[{i}].content");
            if (chars > maxChars) throw TooManyChars(chars, maxChars, "messages");
        }
        return messages;
    }

    /// <summary>Content is a string, null, or an array of text parts; returns its characters.</summary>
    private static long CheckContent(JsonElement content, string param)
    {
        switch (content.ValueKind)
        {
            case JsonValueKind.String:
                return ReadString(content, param).Length;
            case JsonValueKind.Null or JsonValueKind.Undefined:
                return 0;
            case JsonValueKind.Array:
                long chars = 0;
                int j = 0;
                foreach (var part in content.EnumerateArray())
                {
                    string at = $"{param}[{j++}]";
                    if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String)
                        throw new BadRequest($"{at} must be an object with a type, e.g. {{\"type\": \"text\", \"text\": \"...\"}}", at);
                    if (ReadString(type, at + ".type") != "text")
                        throw new BadRequest($"{at}.type '{type.GetString()}' is not supported: only text parts are", at + ".type");
                    if (!part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                        throw new BadRequest($"{at}.text must be a string", at + ".text");
                    chars += ReadString(text, at + ".text").Length;
                }
                return chars;
            default:
                throw new BadRequest($"{param} must be a string or an array of text parts, not {Describe(content.ValueKind)}", param);
        }
    }

    private static (string? Prompt, int[]? Tokens) ReadPrompt(JsonElement prompt, int maxChars)
    {
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return (CheckPromptLength(ReadString(prompt, "prompt"), maxChars), null);
            case JsonValueKind.Array:
                int count = prompt.GetArrayLength();
                if (count == 0) throw new BadRequest("prompt is an empty array: give a string or an array of token ids", "prompt");
                if (count == 1 && prompt[0].ValueKind == JsonValueKind.String)
                    return (CheckPromptLength(ReadString(prompt[0], "prompt[0]"), maxChars), null);
                if (count > maxChars) throw new BadRequest($"prompt has {count} token ids; at most {maxChars} are allowed", "prompt");
                var tokens = new int[count];
                int i = 0;
                foreach (var e in prompt.EnumerateArray())
                {
                    if (e.ValueKind == JsonValueKind.String || e.ValueKind == JsonValueKind.Array)
                        throw new BadRequest("only one prompt per request is supported (a string or an array of token ids)", "prompt");
                    if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int t) || t < 0)
                        throw new BadRequest($"prompt[{i}] = {Show(e)} is not a token id (a non-negative integer)", $"prompt[{i}]");
                    tokens[i++] = t;
                }
                return (null, tokens);
            case JsonValueKind.Undefined or JsonValueKind.Null:
                throw new BadRequest("prompt is required: a string or an array of token ids", "prompt");
            default:
                throw new BadRequest($"prompt must be a string or an array of token ids, not {Describe(prompt.ValueKind)}", "prompt");
        }
    }

    private static string CheckPromptLength(string prompt, int maxChars) =>
        prompt.Length > maxChars ? throw TooManyChars(prompt.Length, maxChars, "prompt") : prompt;

    private static BadRequest TooManyChars(long chars, int maxChars, string param) =>
        new($"{param} has {chars} characters; at most {maxChars} are allowed (actors-server.limits.max-prompt-chars, or what the model length can hold)", param);

    private static string[] ReadStops(JsonElement stop, RequestLimits limits)
    {
        string[] stops;
        switch (stop.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return [];
            case JsonValueKind.String:
                stops = [ReadString(stop, "stop")];
                break;
            case JsonValueKind.Array:
                int count = stop.GetArrayLength();
                if (count > limits.MaxStopSequences)
                    throw new BadRequest($"stop has {count} sequences; at most {limits.MaxStopSequences} are allowed", "stop");
                stops = new string[count];
                int i = 0;
                foreach (var e in stop.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.String)
                        throw new BadRequest($"stop[{i}] = {Show(e)} is not a string; stop is a string or an array of strings", $"stop[{i}]");
                    stops[i] = ReadString(e, $"stop[{i}]");
                    i++;
                }
                break;
            default:
                throw new BadRequest($"stop must be a string or an array of strings, not {Describe(stop.ValueKind)}", "stop");
        }
        foreach (var s in stops)
        {
            if (s.Length == 0) throw new BadRequest("stop sequences must not be empty", "stop");
            if (s.Length > limits.MaxStopLength)
                throw new BadRequest($"a stop sequence has {s.Length} characters; at most {limits.MaxStopLength} are allowed", "stop");
        }
        return stops;
    }

    /// <summary>Completions: logprobs is how many alternatives per token, 0 to 20 (0: only the chosen token's).</summary>
    private static (bool LogProbs, int Top) ReadCompletionLogProbs(CompletionRequest body)
    {
        if (body.TopLogProbs.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
            throw new BadRequest("top_logprobs is a chat completion field: for completions, logprobs is the number of alternatives (0 to 20)", "top_logprobs");
        return body.LogProbs.ValueKind switch
        {
            JsonValueKind.Undefined or JsonValueKind.Null => (false, 0),
            JsonValueKind.Number when body.LogProbs.TryGetInt32(out int k) && k is >= 0 and <= 20 => (true, k),
            _ => throw new BadRequest($"logprobs = {Show(body.LogProbs)} must be an integer from 0 to 20 (the alternatives returned per token)", "logprobs"),
        };
    }

    /// <summary>Chat: logprobs is a boolean; top_logprobs (0 to 20) needs logprobs = true, as OpenAI requires.</summary>
    private static (bool LogProbs, int Top) ReadChatLogProbs(CompletionRequest body)
    {
        bool on = body.LogProbs.ValueKind switch
        {
            JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.False => false,
            JsonValueKind.True => true,
            _ => throw new BadRequest($"logprobs = {Show(body.LogProbs)} must be a boolean; give the number of alternatives in top_logprobs", "logprobs"),
        };
        var top = body.TopLogProbs;
        if (top.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return (on, 0);
        if (top.ValueKind != JsonValueKind.Number || !top.TryGetInt32(out int k) || k is < 0 or > 20)
            throw new BadRequest($"top_logprobs = {Show(top)} must be an integer from 0 to 20", "top_logprobs");
        if (!on) throw new BadRequest("top_logprobs needs logprobs = true", "top_logprobs");
        return (true, k);
    }

    /// <summary>stream_options: {"include_usage": bool}, only with stream = true (as OpenAI requires).</summary>
    public static bool ReadStreamOptions(CompletionRequest body)
    {
        var o = body.StreamOptions;
        if (o.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null) return false;
        if (o.ValueKind != JsonValueKind.Object)
            throw new BadRequest($"stream_options must be an object such as {{\"include_usage\": true}}, not {Describe(o.ValueKind)}", "stream_options");
        if (!body.Stream) throw new BadRequest("stream_options is only allowed with stream = true", "stream_options");
        bool include = false;
        foreach (var p in o.EnumerateObject())
        {
            if (p.Name != "include_usage")
                throw new BadRequest($"stream_options.{p.Name} is not supported (only include_usage is)", "stream_options." + p.Name);
            include = p.Value.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False or JsonValueKind.Null => false,
                _ => throw new BadRequest($"stream_options.include_usage = {Show(p.Value)} must be a boolean", "stream_options.include_usage"),
            };
        }
        return include;
    }

    /// <summary>A JSON string as .NET text; a lone surrogate (e.g. "\ud800") is not text and is refused.</summary>
    private static string ReadString(JsonElement e, string param)
    {
        string s;
        try
        {
            s = e.GetString() ?? "";
        }
        catch (InvalidOperationException)
        {
            throw new BadRequest($"{param} is not valid Unicode text (it holds an unpaired surrogate escape such as \\ud800)", param);
        }
        CheckText(s, param);
        return s;
    }

    private static void CheckText(string s, string param)
    {
        for (int i = 0; i < s.Length; i++)
        {
            if (!char.IsSurrogate(s[i])) continue;
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { i++; continue; }
            throw new BadRequest($"{param} is not valid Unicode text: unpaired surrogate U+{(int)s[i]:X4} at character {i}", param);
        }
    }

    private static void CheckRange(float? value, float min, float max, string param)
    {
        if (value is { } v && !(float.IsFinite(v) && v >= min && v <= max))
            throw new BadRequest($"{param} = {v} is out of range: allowed {min} to {max}", param);
    }

    private static void CheckRange(int? value, int min, int max, string param)
    {
        if (value is { } v && (v < min || v > max))
            throw new BadRequest($"{param} = {v} is out of range: allowed {min} or more", param);
    }

    internal static string Show(JsonElement e)
    {
        string raw = e.GetRawText();
        return raw.Length <= 40 ? raw : raw[..40] + "…";
    }

    internal static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
