using System.Text.Json;
using Actors.Cli.Commands;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;

namespace Actors.Cli.Tests;

/// <summary>`actors tokenize`, `detokenize` and `template` on a generated model with a chat template in its file.</summary>
public sealed class TokenizerCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "actors-cli-tok-" + Guid.NewGuid().ToString("N"));
    private readonly string _model;
    private readonly Tokenizer _tokenizer;

    public TokenizerCommandTests()
    {
        Directory.CreateDirectory(_dir);
        var vocab = SyntheticVocabulary.Build(SyntheticVocabularyKind.SentencePiece, 400);
        var imported = new ImportedTokenizer
        {
            Model = "llama", Tokens = vocab.Tokens, Scores = vocab.Scores, TokenTypes = vocab.TokenTypes,
            SpecialIds = new Dictionary<string, int> { ["bos"] = vocab.BosId, ["eos"] = vocab.EosId, ["unk"] = vocab.UnknownId ?? 0 },
            AddBos = true, ChatTemplate = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
        };
        _model = Path.Combine(_dir, "m.gguf");
        SyntheticModelGenerator.Write(_model, new SyntheticModelSpec { Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 1, Vocab = 400, ImportedVocabulary = imported });
        using var file = GgufFile.Open(_model);
        _tokenizer = Tokenizer.FromGguf(file);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Run(ICommand command, params string[] args)
    {
        var output = new StringWriter();
        Assert.Equal(0, command.RunAsync(new Arguments(command.Name, args, command.Options), output, CancellationToken.None).Result);
        return output.ToString();
    }

    [Fact]
    public void Tokenize_prints_the_models_ids_as_json()
    {
        var json = JsonDocument.Parse(Run(new TokenizeCommand(), "--model", _model, "--text", "the cat</s>", "--add-special", "--parse-special", "--json"));
        Assert.Equal(_tokenizer.Encode("the cat</s>", addBos: true, parseSpecial: true), json.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(_tokenizer.BosId, json.RootElement.GetProperty("ids")[0].GetInt32());
    }

    [Fact]
    public void Tokenize_a_json_array_of_texts_prints_one_id_list_each()
    {
        string texts = Path.Combine(_dir, "texts.json");
        File.WriteAllText(texts, """["a b", "", "the end\r\n"]""");
        var ids = JsonDocument.Parse(Run(new TokenizeCommand(), "--model", _model, "--texts-json", texts, "--json")).RootElement.GetProperty("ids");
        Assert.Equal(3, ids.GetArrayLength());
        Assert.Equal(_tokenizer.Encode("the end\r\n", addBos: false), ids[2].EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(0, ids[1].GetArrayLength());
    }

    [Fact]
    public void Detokenize_prints_the_text_exactly()
    {
        int[] ids = _tokenizer.Encode("the cat sat", addBos: true);
        Assert.Equal("the cat sat", Run(new DetokenizeCommand(), "--model", _model, "--ids", string.Join(",", ids)));
        Assert.Equal("{\"content\":\"the cat sat\"}", Run(new DetokenizeCommand(), "--model", _model, "--ids", string.Join(",", ids), "--json").Trim());
        var bad = Assert.Throws<CliException>(() => Run(new DetokenizeCommand(), "--model", _model, "--ids", "1,4000"));
        Assert.Equal("token id 4000 (position 1) is outside the vocabulary 0..399", bad.Message);
    }

    [Fact]
    public void Template_prints_the_files_chat_template_exactly()
    {
        string messages = Path.Combine(_dir, "messages.json");
        File.WriteAllText(messages, """[{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]""");
        string bos = _tokenizer.TokenText(_tokenizer.BosId);
        Assert.Equal($"{bos}<system>S<user>U<assistant>", Run(new TemplateCommand(), "--model", _model, "--messages", messages));
        Assert.Equal($"{bos}<system>S<user>U", Run(new TemplateCommand(), "--model", _model, "--messages", messages, "--no-generation-prompt"));
        Assert.Equal("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n",
            Run(new TemplateCommand(), "--model", _model, "--messages", messages, "--no-generation-prompt", "--chat-template", "chatml"));
    }
}
