using System.Text.Json;
using System.Text.Json.Serialization;

namespace Actors.Server;

/// <summary>The subset of OpenAI's request bodies the server honours (unknown fields are ignored, as OpenAI does).</summary>
public sealed class CompletionRequest
{
    [JsonPropertyName("model")] public string? Model { get; set; }
    /// <summary>A string, or an array of token ids.</summary>
    [JsonPropertyName("prompt")] public JsonElement Prompt { get; set; }
    [JsonPropertyName("messages")] public List<ChatMessage>? Messages { get; set; }
    [JsonPropertyName("max_tokens")] public int? MaxTokens { get; set; }
    [JsonPropertyName("max_completion_tokens")] public int? MaxCompletionTokens { get; set; }
    [JsonPropertyName("temperature")] public float? Temperature { get; set; }
    [JsonPropertyName("top_p")] public float? TopP { get; set; }
    [JsonPropertyName("top_k")] public int? TopK { get; set; }
    [JsonPropertyName("min_p")] public float? MinP { get; set; }
    [JsonPropertyName("presence_penalty")] public float? PresencePenalty { get; set; }
    [JsonPropertyName("frequency_penalty")] public float? FrequencyPenalty { get; set; }
    [JsonPropertyName("repetition_penalty")] public float? RepetitionPenalty { get; set; }
    [JsonPropertyName("seed")] public long? Seed { get; set; }
    /// <summary>A string or an array of strings.</summary>
    [JsonPropertyName("stop")] public JsonElement Stop { get; set; }
    [JsonPropertyName("stream")] public bool Stream { get; set; }
    [JsonPropertyName("n")] public int? N { get; set; }
    /// <summary>Chat: a boolean. Completions: how many alternatives per token (0 to 20).</summary>
    [JsonPropertyName("logprobs")] public JsonElement LogProbs { get; set; }
    /// <summary>Chat only: how many alternatives per token (0 to 20), with logprobs = true.</summary>
    [JsonPropertyName("top_logprobs")] public JsonElement TopLogProbs { get; set; }
    /// <summary>{"include_usage": true} adds a last chunk with empty choices and the usage.</summary>
    [JsonPropertyName("stream_options")] public JsonElement StreamOptions { get; set; }
    [JsonPropertyName("tool_choice")] public JsonElement ToolChoice { get; set; }
    [JsonPropertyName("response_format")] public JsonElement ResponseFormat { get; set; }
    [JsonPropertyName("logit_bias")] public JsonElement LogitBias { get; set; }
    // Fields read only to refuse them (UnsupportedFields): a client must not believe they were honoured.
    [JsonPropertyName("echo")] public JsonElement Echo { get; set; }
    [JsonPropertyName("best_of")] public JsonElement BestOf { get; set; }
    [JsonPropertyName("suffix")] public JsonElement Suffix { get; set; }
    [JsonPropertyName("functions")] public JsonElement Functions { get; set; }
    [JsonPropertyName("function_call")] public JsonElement FunctionCall { get; set; }
    [JsonPropertyName("audio")] public JsonElement Audio { get; set; }
    [JsonPropertyName("modalities")] public JsonElement Modalities { get; set; }
    [JsonPropertyName("prediction")] public JsonElement Prediction { get; set; }
    [JsonPropertyName("ignore_eos")] public bool IgnoreEos { get; set; }
    [JsonPropertyName("priority")] public int? Priority { get; set; }
    /// <summary>Tools offered to the model, passed to the chat template as `tools`.</summary>
    [JsonPropertyName("tools")] public JsonElement Tools { get; set; }
    /// <summary>Extra chat template variables (e.g. {"enable_thinking": false}).</summary>
    [JsonPropertyName("chat_template_kwargs")] public JsonElement ChatTemplateKwargs { get; set; }
}

public sealed class ChatMessage
{
    [JsonPropertyName("role")] public string Role { get; set; } = "user";
    /// <summary>A string, or an array of content parts (text parts are joined).</summary>
    [JsonPropertyName("content")] public JsonElement Content { get; set; }
    /// <summary>The message's other fields (tool_calls, tool_call_id, name, reasoning_content), for the chat template.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; set; }

    public string Text => Content.ValueKind switch
    {
        JsonValueKind.String => Content.GetString() ?? "",
        JsonValueKind.Array => string.Concat(Content.EnumerateArray()
            .Where(p => p.TryGetProperty("type", out var t) && t.GetString() == "text" && p.TryGetProperty("text", out _))
            .Select(p => p.GetProperty("text").GetString())),
        _ => "",
    };
}

/// <summary>An OpenAI-style error body: {"error": {"message", "type", "param", "code"}}.</summary>
public sealed record ApiError(
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("param")] string? Param,
    [property: JsonPropertyName("code")] string? Code);
