using System.Text.Json;
using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors template`: the prompt the model's chat template makes of a conversation, printed exactly
/// (nothing added, not even a trailing newline).
/// </summary>
public sealed class TemplateCommand : ICommand
{
    public string Name => "template";
    public string Summary => "render a conversation with the model's chat template, exactly as the server would";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("messages", "a JSON file: an array of {role, content} messages, or {\"messages\": [...], \"tools\": [...]}"),
        new("no-generation-prompt", "leave out the assistant turn's opening (add_generation_prompt = false)", IsFlag: true),
        new("chat-template", "a Jinja file or a built-in name overriding the model's template"),
        new("kwargs", "extra template variables as a JSON object, e.g. {\"enable_thinking\": false}"),
    ];

    public Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string path = a.String("messages") ?? throw new CliException("option '--messages' is required (a JSON file of messages)");
        if (!File.Exists(path)) throw new CliException($"file not found: {path}");
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(File.ReadAllText(path));
        }
        catch (JsonException ex)
        {
            throw new CliException($"{path}: not valid JSON ({ex.Message})");
        }
        var messages = root switch
        {
            JsonArray array => array,
            JsonObject o when o["messages"] is JsonArray m => m,
            _ => throw new CliException($"{path}: expected an array of messages or an object with a 'messages' array"),
        };
        var tools = (root as JsonObject)?["tools"] as JsonArray;
        JsonObject? kwargs = null;
        if (a.String("kwargs") is { } k)
        {
            try { kwargs = JsonNode.Parse(k) as JsonObject ?? throw new CliException("option '--kwargs' must be a JSON object"); }
            catch (JsonException ex) { throw new CliException($"option '--kwargs' is not valid JSON ({ex.Message})"); }
        }

        var tokenizer = ModelTokenizer.Open(a, out var metadata);
        try
        {
            var template = ChatTemplate.ForModel(metadata, tokenizer, a.String("chat-template"));
            output.Write(template.Render(messages, !a.Flag("no-generation-prompt"), tools, kwargs));
        }
        catch (Exception ex) when (ex is JinjaException or TemplateRaisedException or FileNotFoundException or Actors.Inference.Model.ModelFormatException)
        {
            throw new CliException(ex is TemplateRaisedException ? $"the chat template refused the messages: {ex.Message}" : ex.Message);
        }
        output.Flush();
        return Task.FromResult(0);
    }
}
