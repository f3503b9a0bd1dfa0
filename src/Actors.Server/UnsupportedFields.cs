using System.Text.Json;
using static Actors.Server.RequestMapper;

namespace Actors.Server;

/// <summary>
/// OpenAI fields the server does not implement are refused with a 400 naming them rather than ignored, so a
/// client never believes it got what it asked for (JSON output, a forced tool call, biased sampling).
/// </summary>
public static class UnsupportedFields
{
    public static void Check(CompletionRequest body, bool chat)
    {
        if (!chat && IsSet(body.Tools))
            throw new BadRequest("tools is a chat completion field: send it to /v1/chat/completions", "tools");
        CheckToolChoice(body.ToolChoice, chat);
        CheckResponseFormat(body.ResponseFormat);
        var bias = body.LogitBias;
        if (IsSet(bias) && !(bias.ValueKind == JsonValueKind.Object && !bias.EnumerateObject().Any()))
            throw new BadRequest("logit_bias is not supported by this server", "logit_bias");
    }

    /// <summary>The chat template receives the tools and the model decides; forcing a call ("required", a named function) is not implemented.</summary>
    private static void CheckToolChoice(JsonElement choice, bool chat)
    {
        if (!IsSet(choice)) return;
        if (!chat) throw new BadRequest("tool_choice is a chat completion field", "tool_choice");
        if (choice.ValueKind == JsonValueKind.String && choice.GetString() is "none" or "auto") return;
        throw new BadRequest($"tool_choice = {Show(choice)} is not supported: only \"none\" and \"auto\" are (the model decides whether to call a tool)", "tool_choice");
    }

    private static void CheckResponseFormat(JsonElement format)
    {
        if (!IsSet(format)) return;
        if (format.ValueKind == JsonValueKind.Object && format.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String)
        {
            if (type.GetString() == "text") return;
            throw new BadRequest($"response_format type '{type.GetString()}' is not supported: only {{\"type\": \"text\"}} is (no constrained JSON output)", "response_format");
        }
        throw new BadRequest($"response_format = {Show(format)} must be an object with a type; only {{\"type\": \"text\"}} is supported", "response_format");
    }

    private static bool IsSet(JsonElement e) => e.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null);
}
