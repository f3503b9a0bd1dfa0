using System.Text.Json;
using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;
using Actors.Inference.Tokenization;

namespace Actors.Server;

/// <summary>
/// Chat messages to prompt tokens with the model's own chat template (or the `--chat-template` override):
/// the template's control tokens are parsed, the messages' text never is, so a user who types
/// "&lt;|im_end|&gt;" gets those characters, not a turn boundary.
/// </summary>
public sealed class ChatPromptBuilder(ChatTemplate template, Tokenizer tokenizer)
{
    public ChatTemplate Template { get; } = template;

    public static ChatPromptBuilder ForRuntime(Actors.Runtime.LlmRuntime runtime, string? overrideTemplate = null) =>
        new(runtime.ChatTemplate(overrideTemplate), runtime.Tokenizer);

    /// <summary>The prompt tokens; a template that refuses the conversation is a <see cref="RequestMapper.BadRequest"/>.</summary>
    public int[] Build(CompletionRequest body)
    {
        var messages = new JsonArray(body.Messages!.Select(m => (JsonNode)ToJson(m)).ToArray());
        var tools = body.Tools.ValueKind == JsonValueKind.Array ? JsonNode.Parse(body.Tools.GetRawText())!.AsArray() : null;
        var kwargs = body.ChatTemplateKwargs.ValueKind == JsonValueKind.Object ? JsonNode.Parse(body.ChatTemplateKwargs.GetRawText())!.AsObject() : null;
        try
        {
            return Template.Tokenize(tokenizer, messages, addGenerationPrompt: true, tools, kwargs);
        }
        catch (TemplateRaisedException ex)
        {
            throw new RequestMapper.BadRequest($"the model's chat template refused the messages: {ex.Message}", "messages");
        }
        catch (JinjaException ex)
        {
            throw new RequestMapper.BadRequest($"the chat template ({Template.Origin}) failed: {ex.Message}", "messages");
        }
    }

    private static JsonObject ToJson(ChatMessage m)
    {
        var o = new JsonObject { ["role"] = m.Role };
        o["content"] = m.Content.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null ? "" : JsonNode.Parse(m.Content.GetRawText());
        if (m.Extra != null)
            foreach (var (k, v) in m.Extra) o[k] = JsonNode.Parse(v.GetRawText());
        return o;
    }
}
