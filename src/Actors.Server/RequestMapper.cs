using System.Text.Json;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>Maps an OpenAI request body to a <see cref="Generate"/>; anything unusable is a 400 naming the field.</summary>
public static class RequestMapper
{
    public sealed class BadRequest(string message, string? param) : Exception(message)
    {
        public string? Param { get; } = param;
    }

    public static Generate ToGenerate(CompletionRequest body, bool chat, ChatPromptBuilder chatPrompt, string id)
    {
        if (body.N is > 1) throw new BadRequest($"n = {body.N} is not supported (one choice per request)", "n");
        string? prompt = null;
        int[]? tokens = null;
        if (chat)
        {
            if (body.Messages is not { Count: > 0 }) throw new BadRequest("messages must be a non-empty array", "messages");
            foreach (var m in body.Messages)
                if (m.Role is not ("system" or "user" or "assistant" or "tool" or "developer"))
                    throw new BadRequest($"message role '{m.Role}' is not one of system, developer, user, assistant, tool", "messages");
            tokens = chatPrompt.Build(body);
        }
        else
        {
            switch (body.Prompt.ValueKind)
            {
                case JsonValueKind.String:
                    prompt = body.Prompt.GetString();
                    break;
                case JsonValueKind.Array when body.Prompt.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number):
                    tokens = body.Prompt.EnumerateArray().Select(e => e.TryGetInt32(out int t) ? t : throw new BadRequest($"prompt token {e} is not an integer", "prompt")).ToArray();
                    break;
                case JsonValueKind.Array:
                    var items = body.Prompt.EnumerateArray().ToList();
                    if (items.Count == 1 && items[0].ValueKind == JsonValueKind.String) prompt = items[0].GetString();
                    else throw new BadRequest("only one prompt per request is supported (a string or an array of token ids)", "prompt");
                    break;
                default:
                    throw new BadRequest("prompt is required: a string or an array of token ids", "prompt");
            }
        }
        string[] stops = body.Stop.ValueKind switch
        {
            JsonValueKind.String => [body.Stop.GetString()!],
            JsonValueKind.Array => body.Stop.EnumerateArray().Select(e => e.GetString() ?? throw new BadRequest("stop must be a string or an array of strings", "stop")).ToArray(),
            JsonValueKind.Undefined or JsonValueKind.Null => [],
            _ => throw new BadRequest("stop must be a string or an array of strings", "stop"),
        };
        bool logprobs = body.LogProbs.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.Number => body.LogProbs.GetInt32() > 0,
            _ => false,
        };
        return new Generate
        {
            RequestId = id,
            Prompt = prompt,
            PromptTokens = tokens,
            MaxTokens = body.MaxCompletionTokens ?? body.MaxTokens,
            Priority = body.Priority ?? 0,
            AddBos = true,
            ParseSpecialTokens = false,
            Sampling = new SamplingOptions
            {
                Temperature = body.Temperature ?? 1.0f,
                TopP = body.TopP ?? 1.0f,
                TopK = body.TopK ?? 0,
                MinP = body.MinP ?? 0,
                PresencePenalty = body.PresencePenalty ?? 0,
                FrequencyPenalty = body.FrequencyPenalty ?? 0,
                RepetitionPenalty = body.RepetitionPenalty ?? 1,
                Seed = body.Seed is { } seed ? unchecked((ulong)seed) : null,
                StopSequences = stops,
                IgnoreEos = body.IgnoreEos,
                LogProbs = logprobs,
            },
        };
    }
}
