using System.Text.Json;
using static Actors.Server.RequestMapper;

namespace Actors.Server;

/// <summary>
/// OpenAI fields the server does not implement are refused with a 400 naming them rather than ignored, so a
/// client never believes it got what it asked for (JSON output, a forced tool call).
/// </summary>
public static class UnsupportedFields
{
    public static void Check(CompletionRequest body, bool chat)
    {
        if (!chat && IsSet(body.Tools))
            throw new BadRequest("tools is a chat completion field: send it to /v1/chat/completions", "tools");
        CheckToolChoice(body.ToolChoice, chat);
        CheckResponseFormat(body.ResponseFormat);
        if (IsSet(body.Echo) && body.Echo.ValueKind != JsonValueKind.False)
            throw new BadRequest("echo is not supported: the completion does not repeat the prompt", "echo");
        if (IsSet(body.BestOf) && !(body.BestOf.ValueKind == JsonValueKind.Number && body.BestOf.TryGetInt32(out int best) && best == 1))
            throw new BadRequest($"best_of = {Show(body.BestOf)} is not supported: only 1 is (ask for n choices instead)", "best_of");
        if (IsSet(body.Suffix)) throw new BadRequest("suffix is not supported (no fill-in-the-middle)", "suffix");
        if (IsSet(body.Functions)) throw new BadRequest("functions is not supported: give tools instead", "functions");
        if (IsSet(body.FunctionCall)) throw new BadRequest("function_call is not supported: the model decides whether to call a tool", "function_call");
        if (IsSet(body.Audio)) throw new BadRequest("audio output is not supported", "audio");
        if (IsSet(body.Modalities) && !(body.Modalities.ValueKind == JsonValueKind.Array
                && body.Modalities.EnumerateArray().All(m => m.ValueKind == JsonValueKind.String && m.GetString() == "text")))
            throw new BadRequest($"modalities = {Show(body.Modalities)} is not supported: only [\"text\"] is", "modalities");
        if (IsSet(body.Prediction)) throw new BadRequest("prediction (predicted outputs) is not supported", "prediction");
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
