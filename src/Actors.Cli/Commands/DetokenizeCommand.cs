using System.Text.Json;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors detokenize`: token ids back to text. Prints the text exactly (no newline added), or with
/// `--json` {"content":"..."} (llama.cpp's /detokenize answer).
/// </summary>
public sealed class DetokenizeCommand : ICommand
{
    public string Name => "detokenize";
    public string Summary => "the text of token ids with the model's tokenizer";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("ids", "comma-separated token ids, e.g. 1,2,3"),
        new("ids-json", "a JSON file holding an array of ids"),
        new("special", "write control tokens as their text", IsFlag: true),
        new("json", "print JSON ({\"content\":\"...\"})", IsFlag: true),
    ];

    public Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        if (a.Has("ids") == a.Has("ids-json")) throw new CliException("give exactly one of '--ids' or '--ids-json'");
        int[] ids = a.Has("ids") ? a.IntList("ids")! : ReadIds(a.RequireString("ids-json"));
        var tokenizer = ModelTokenizer.Open(a, out _);
        for (int i = 0; i < ids.Length; i++)
            if ((uint)ids[i] >= (uint)tokenizer.VocabSize)
                throw new CliException($"token id {ids[i]} (position {i}) is outside the vocabulary 0..{tokenizer.VocabSize - 1}");
        string text = tokenizer.Decode(ids, renderSpecial: a.Flag("special"));
        if (a.Flag("json")) output.WriteLine(JsonSerializer.Serialize(new { content = text }));
        else output.Write(text);
        return Task.FromResult(0);
    }

    private static int[] ReadIds(string path)
    {
        if (!File.Exists(path)) throw new CliException($"file not found: {path}");
        try
        {
            return JsonSerializer.Deserialize<int[]>(File.ReadAllText(path)) ?? throw new CliException($"{path}: expected a JSON array of token ids");
        }
        catch (JsonException ex)
        {
            throw new CliException($"{path}: expected a JSON array of token ids ({ex.Message})");
        }
    }
}
