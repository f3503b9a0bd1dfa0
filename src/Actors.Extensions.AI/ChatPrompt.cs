using System.Text.Json;
using Microsoft.Extensions.AI;
using Actors.Server;

namespace Actors.Extensions.AI;

/// <summary>
/// The one place where Microsoft.Extensions.AI messages become a prompt: they are rendered by the same
/// chat template the HTTP server uses, so an IChatClient caller and an OpenAI client get the same prompt.
/// Content other than text (images, audio, tool calls and results) is refused, naming its type.
/// </summary>
internal sealed class ChatPrompt(ChatTemplate template)
{
    public string Render(IEnumerable<Microsoft.Extensions.AI.ChatMessage> messages)
    {
        var rendered = new List<Server.ChatMessage>();
        int index = 0;
        foreach (var m in messages)
        {
            foreach (var content in m.Contents)
                if (content is not TextContent and not TextReasoningContent)
                    throw new NotSupportedException($"messages[{index}] has {content.GetType().Name}: only text content is supported by this runtime");
            rendered.Add(new Server.ChatMessage { Role = m.Role.Value, Content = JsonSerializer.SerializeToElement(m.Text) });
            index++;
        }
        if (rendered.Count == 0) throw new ArgumentException("at least one chat message is required", nameof(messages));
        return template.Render(rendered);
    }
}
