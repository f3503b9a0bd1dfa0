using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;

namespace Actors.Inference.Tests.ChatTemplates;

/// <summary>Which template a model gets: the file's own, a named built-in or file override, or a built-in fallback.</summary>
public sealed class ChatTemplateSelectionTests
{
    private static (Tokenizer Tokenizer, Dictionary<string, GgufValue> Metadata) Vocabulary(string? template, params string[] extraControl)
    {
        var vocab = SyntheticVocabulary.Build(SyntheticVocabularyKind.Gpt2Bpe, 400);
        var md = new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = new(GgufValueType.String, "gpt2"),
            ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, vocab.Tokens.Concat(extraControl).ToArray(), GgufValueType.String),
            ["tokenizer.ggml.token_type"] = new(GgufValueType.Array, vocab.TokenTypes.Concat(extraControl.Select(_ => (int)TokenType.Control)).ToArray(), GgufValueType.Int32),
            ["tokenizer.ggml.merges"] = new(GgufValueType.Array, vocab.Merges!, GgufValueType.String),
            ["tokenizer.ggml.bos_token_id"] = new(GgufValueType.UInt32, (uint)vocab.BosId),
            ["tokenizer.ggml.eos_token_id"] = new(GgufValueType.UInt32, (uint)vocab.EosId),
        };
        if (template != null) md["tokenizer.chat_template"] = new(GgufValueType.String, template);
        return (Tokenizer.FromMetadata(md), md);
    }

    private static readonly JsonArray Hi = [new JsonObject { ["role"] = "user", ["content"] = "hi" }];

    [Fact]
    public void The_files_own_template_is_used_with_its_bos_and_eos_text()
    {
        var (tokenizer, md) = Vocabulary("{{ bos_token }}[{{ messages[0].content }}]{{ eos_token }}");
        var template = ChatTemplate.ForModel(md, tokenizer);
        Assert.Equal("model", template.Origin);
        Assert.Equal($"{tokenizer.TokenText(tokenizer.BosId)}[hi]{tokenizer.TokenText(tokenizer.EosId)}", template.Render(Hi));
    }

    [Theory]
    [InlineData(new string[0], "built-in plain")]
    [InlineData(new[] { "<|im_start|>", "<|im_end|>" }, "built-in chatml")]
    [InlineData(new[] { "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>" }, "built-in llama3")]
    [InlineData(new[] { "<start_of_turn>", "<end_of_turn>" }, "built-in gemma")]
    [InlineData(new[] { "[INST]", "[/INST]" }, "built-in llama2")]
    public void A_file_without_a_template_falls_back_to_the_built_in_its_special_tokens_point_to(string[] control, string origin)
    {
        var (tokenizer, md) = Vocabulary(null, control);
        Assert.Equal(origin, ChatTemplate.ForModel(md, tokenizer).Origin);
    }

    [Fact]
    public void An_override_by_name_or_file_wins_over_the_files_template()
    {
        var (tokenizer, md) = Vocabulary("{{ 'own' }}");
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.ForModel(md, tokenizer, "chatml").Render(Hi));
        string path = Path.Combine(Path.GetTempPath(), $"tmpl-{Guid.NewGuid():N}.jinja");
        File.WriteAllText(path, "{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}");
        try
        {
            Assert.Equal("<user>hi", ChatTemplate.ForModel(md, tokenizer, path).Render(Hi));
        }
        finally { File.Delete(path); }
        var missing = Assert.Throws<FileNotFoundException>(() => ChatTemplate.ForModel(md, tokenizer, "no-such-template"));
        Assert.Contains("neither a file nor a built-in name", missing.Message);
    }

    [Fact]
    public void A_template_with_an_unsupported_construct_fails_when_loaded_naming_it()
    {
        var (tokenizer, md) = Vocabulary("ok\n{% include 'other' %}");
        var ex = Assert.Throws<JinjaException>(() => ChatTemplate.ForModel(md, tokenizer));
        Assert.Equal("chat template (model): unsupported statement 'include' at line 2, column 4", ex.Message);
    }

    [Fact]
    public void Tokenized_chat_keeps_special_token_text_in_messages_literal_and_does_not_double_bos()
    {
        var (tokenizer, md) = Vocabulary(null, "<|im_start|>", "<|im_end|>");
        var template = ChatTemplate.ForModel(md, tokenizer);
        tokenizer.TryGetTokenId("<|im_end|>", out int imEnd);
        var tokens = template.Tokenize(tokenizer, [new JsonObject { ["role"] = "user", ["content"] = "x<|im_end|>y" }]);
        Assert.Equal(1, tokens.Count(t => t == imEnd)); // only the template's own turn end
        Assert.Equal(tokenizer.Decode(tokens, renderSpecial: true, stripSpacePrefix: false),
            (tokenizer.AddBosToken ? tokenizer.TokenText(tokenizer.BosId) : "") + "<|im_start|>user\nx<|im_end|>y<|im_end|>\n<|im_start|>assistant\n");
    }
}
