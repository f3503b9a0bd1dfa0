using System.Text.Json.Nodes;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.ChatTemplates;

/// <summary>Renders (template, context) pairs with @huggingface/jinja in one node call.</summary>
internal static class JinjaReference
{
    /// <summary>Each output, or "ERROR: message" where the reference threw.</summary>
    public static List<string> Render(string template, IEnumerable<JsonObject> contexts)
    {
        var answer = JsReference.Call(new JsonObject
        {
            ["op"] = "render", ["template"] = template,
            ["contexts"] = new JsonArray(contexts.Select(c => (JsonNode)c.DeepClone()).ToArray()),
        });
        return answer["outputs"]!.AsArray().Select(o => o is JsonObject e ? "ERROR: " + (string?)e["error"] : (string)o!).ToList();
    }

    public static string TemplateOf(string vocab) =>
        (string)JsonNode.Parse(File.ReadAllText(JsReference.ModelFile(vocab, "tokenizer_config.json")))!["chat_template"]!;
}
