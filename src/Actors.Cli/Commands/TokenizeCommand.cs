using System.Text;
using System.Text.Json;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors tokenize`: text to token ids with the model's own tokenizer. `--json` prints {"ids":[...]}, or
/// {"ids":[[...],...]} for `--texts-json` (a JSON array of strings); otherwise the ids comma-separated.
/// </summary>
public sealed class TokenizeCommand : ICommand
{
    public string Name => "tokenize";
    public string Summary => "token ids of a text with the model's tokenizer";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("text", "the text"),
        new("text-file", "read the text from this file (UTF-8, exactly as it is)"),
        new("texts-json", "a JSON file holding an array of strings: one id list each"),
        new("add-special", "add the model's BOS/EOS as llama.cpp's add_special does", IsFlag: true),
        new("parse-special", "turn control-token text such as <|eot_id|> into that token", IsFlag: true),
        new("json", "print JSON ({\"ids\":[...]})", IsFlag: true),
    ];

    public Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        var texts = ReadTexts(a, out bool many);
        var tokenizer = ModelTokenizer.Open(a, out _);
        bool addSpecial = a.Flag("add-special"), parseSpecial = a.Flag("parse-special");
        var ids = texts.Select(t => tokenizer.Encode(t, addSpecial, parseSpecial)).ToArray();
        if (a.Flag("json"))
            output.WriteLine(many ? JsonSerializer.Serialize(new { ids }) : JsonSerializer.Serialize(new { ids = ids[0] }));
        else
            foreach (var list in ids) output.WriteLine(string.Join(",", list));
        return Task.FromResult(0);
    }

    private static string[] ReadTexts(Arguments a, out bool many)
    {
        int given = new[] { "text", "text-file", "texts-json" }.Count(a.Has);
        if (given != 1) throw new CliException("give exactly one of '--text', '--text-file' or '--texts-json'");
        many = a.Has("texts-json");
        if (a.Has("text")) return [a.RequireString("text")];
        string path = a.RequireString(many ? "texts-json" : "text-file");
        if (!File.Exists(path)) throw new CliException($"file not found: {path}");
        string content = new UTF8Encoding(false).GetString(File.ReadAllBytes(path)); // a BOM stays, as the text's first character
        if (!many) return [content];
        try
        {
            return JsonSerializer.Deserialize<string[]>(content) ?? throw new CliException($"{path}: expected a JSON array of strings, got null");
        }
        catch (JsonException ex)
        {
            throw new CliException($"{path}: expected a JSON array of strings ({ex.Message})");
        }
    }
}
