using System.Diagnostics;
using System.Text.Json.Nodes;
using Actors.Cli.Commands;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;

namespace Actors.Cli.Tests;

/// <summary>`actors chat` as a user pipes it: lines on stdin, replies on stdout, compared with the same conversation driven in-process.</summary>
public sealed class ChatCommandTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "actors-cli-chat-" + Guid.NewGuid().ToString("N"));
    private readonly string _model;

    public ChatCommandTests()
    {
        Directory.CreateDirectory(_dir);
        var vocab = SyntheticVocabulary.Build(SyntheticVocabularyKind.SentencePiece, 400);
        var imported = new ImportedTokenizer
        {
            Model = "llama", Tokens = vocab.Tokens, Scores = vocab.Scores, TokenTypes = vocab.TokenTypes,
            SpecialIds = new Dictionary<string, int> { ["bos"] = vocab.BosId, ["eos"] = vocab.EosId, ["unk"] = vocab.UnknownId ?? 0 },
            AddBos = true, ChatTemplate = "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}",
        };
        _model = Path.Combine(_dir, "chat.gguf");
        SyntheticModelGenerator.Write(_model, new SyntheticModelSpec { Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 1, Vocab = 400, ImportedVocabulary = imported, Seed = 3 });
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string[] Args => ["--model", _model, "--threads", "1", "--temperature", "0", "--max-tokens", "5", "--ignore-eos", "--system", "be brief"];

    [Fact]
    public async Task Piped_lines_are_turns_of_one_conversation_rendered_by_the_models_template()
    {
        // The same conversation in-process: what the piped process must print.
        var command = new ChatCommand();
        var expected = new List<(string Reply, int PromptTokens)>();
        var parsed = new Arguments("chat", Args, command.Options);
        await using (var host = RuntimeHost.Start(parsed))
        {
            var session = new ChatSession(host.Runtime, host.Runtime.ChatTemplate(), SamplingArguments.Parse(parsed), 5, "be brief");
            foreach (var line in new[] { "hello there", "and a second turn" })
            {
                var (reply, done) = await session.SendAsync(line, TextWriter.Null, CancellationToken.None);
                expected.Add((reply, done.Usage.PromptTokens));
            }
            // The second prompt is the whole history through the template: system, user, assistant, user.
            using var file = GgufFile.Open(_model);
            var tokenizer = Tokenizer.FromGguf(file);
            var history = new JsonArray(
                new JsonObject { ["role"] = "system", ["content"] = "be brief" },
                new JsonObject { ["role"] = "user", ["content"] = "hello there" },
                new JsonObject { ["role"] = "assistant", ["content"] = expected[0].Reply },
                new JsonObject { ["role"] = "user", ["content"] = "and a second turn" });
            Assert.Equal(host.Runtime.ChatTemplate().Tokenize(tokenizer, history).Length, expected[1].PromptTokens);
        }

        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir, // no config/default.conf here: the built-in defaults
        };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "actors.dll"), "chat" }.Concat(Args)) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        await process.StandardInput.WriteAsync("hello there\n\nand a second turn\n");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(120_000), "chat did not end at the end of its input");
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Equal(expected[0].Reply + "\n" + expected[1].Reply + "\n", (await stdout).ReplaceLineEndings("\n"));
        string log = await stderr;
        Assert.Contains($"[{expected[0].PromptTokens} prompt tokens", log);
        Assert.Contains($"[{expected[1].PromptTokens} prompt tokens", log);
        Assert.DoesNotContain("> ", log); // no prompt shown when stdin is piped
    }
}
