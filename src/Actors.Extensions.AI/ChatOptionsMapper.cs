using Microsoft.Extensions.AI;
using Actors.Runtime.Protocol;

namespace Actors.Extensions.AI;

/// <summary>
/// ChatOptions to the runtime's request fields (pure). What the runtime cannot honour is refused with a
/// NotSupportedException naming the option, rather than ignored: a caller asking for JSON or tools must
/// not believe it got them.
/// </summary>
internal static class ChatOptionsMapper
{
    public static Generate ToGenerate(string requestId, int[] promptTokens, ChatOptions? options)
    {
        var sampling = new SamplingOptions();
        int? maxTokens = null;
        if (options != null)
        {
            if (options.ResponseFormat is { } format and not ChatResponseFormatText)
                throw new NotSupportedException($"ChatOptions.ResponseFormat {Describe(format)} is not supported: this runtime generates plain text only (ChatResponseFormat.Text)");
            if (options.Tools is { Count: > 0 })
                throw new NotSupportedException($"ChatOptions.Tools ({options.Tools.Count} given) is not supported: this runtime does not call tools");
            if (options.MaxOutputTokens is { } max && max <= 0)
                throw new ArgumentOutOfRangeException(nameof(options), $"ChatOptions.MaxOutputTokens is {max}; it must be at least 1");
            maxTokens = options.MaxOutputTokens;
            sampling = sampling with
            {
                Temperature = options.Temperature ?? sampling.Temperature,
                TopP = options.TopP ?? sampling.TopP,
                TopK = options.TopK ?? sampling.TopK,
                PresencePenalty = options.PresencePenalty ?? sampling.PresencePenalty,
                FrequencyPenalty = options.FrequencyPenalty ?? sampling.FrequencyPenalty,
                Seed = options.Seed is { } seed ? unchecked((ulong)seed) : null,
                StopSequences = options.StopSequences is { Count: > 0 } stops ? stops.ToArray() : [],
            };
        }
        return new Generate
        {
            RequestId = requestId,
            PromptTokens = promptTokens,
            MaxTokens = maxTokens,
            Sampling = sampling,
            AddBos = true,
            ParseSpecialTokens = false,
        };
    }

    public static ChatFinishReason? ToFinishReason(FinishReason reason) => reason switch
    {
        FinishReason.Stop => ChatFinishReason.Stop,
        FinishReason.Length or FinishReason.Deadline or FinishReason.Evicted => ChatFinishReason.Length,
        _ => null,
    };

    public static UsageDetails ToUsage(Usage u) => new()
    {
        InputTokenCount = u.PromptTokens,
        OutputTokenCount = u.CompletionTokens,
        TotalTokenCount = u.PromptTokens + u.CompletionTokens,
        CachedInputTokenCount = u.CachedPromptTokens,
    };

    private static string Describe(ChatResponseFormat format) => format switch
    {
        ChatResponseFormatJson { Schema: not null } json => $"Json with schema{(json.SchemaName is { } n ? " \"" + n + "\"" : "")}",
        ChatResponseFormatJson => "Json",
        _ => format.GetType().Name,
    };
}
