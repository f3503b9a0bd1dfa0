using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;
using Actors.Inference.Tokenization;
using Microsoft.Extensions.AI;

namespace Actors.Extensions.AI;

/// <summary>
/// The one place where Microsoft.Extensions.AI messages become prompt tokens: they are rendered by the model's own
/// chat template, as the HTTP server renders them, so an IChatClient caller and an OpenAI client get the same
/// prompt; the template's control tokens are parsed, the messages' text never is. Content other than text
/// (images, audio, tool calls and results) is refused, naming its type.
/// </summary>
internal sealed class ChatPrompt(ChatTemplate template, Tokenizer tokenizer)
{
    public static ChatPrompt ForRuntime(Actors.Runtime.LlmRuntime runtime) => new(runtime.ChatTemplate(), runtime.Tokenizer);

    public int[] Tokenize(IEnumerable<ChatMessage> messages)
    {
        var rendered = new JsonArray();
        int index = 0;
        foreach (var m in messages)
        {
            foreach (var content in m.Contents)
                if (content is not TextContent and not TextReasoningContent)
                    throw new NotSupportedException($"messages[{index}] has {content.GetType().Name}: only text content is supported by this runtime");
            rendered.Add(new JsonObject { ["role"] = m.Role.Value, ["content"] = m.Text });
            index++;
        }
        if (rendered.Count == 0) throw new ArgumentException("at least one chat message is required", nameof(messages));
        return template.Tokenize(tokenizer, rendered, addGenerationPrompt: true);
    }
}
