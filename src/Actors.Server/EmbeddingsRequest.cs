using System.Text.Json;
using static Actors.Server.RequestMapper;

namespace Actors.Server;

/// <summary>An embeddings request body, checked field by field; anything unusable is a <see cref="BadRequest"/> naming the field.</summary>
public sealed record EmbeddingsRequest(string? Model, IReadOnlyList<string>? Texts, IReadOnlyList<int[]>? Tokens, bool Base64)
{
    public static EmbeddingsRequest Read(JsonElement body, int dimensions, int maxInputs, int maxChars)
    {
        if (body.ValueKind != JsonValueKind.Object) throw new BadRequest("the request body must be a JSON object", null);
        string? model = null;
        if (body.TryGetProperty("model", out var m) && m.ValueKind != JsonValueKind.Null)
            model = m.ValueKind == JsonValueKind.String ? m.GetString() : throw new BadRequest("model must be a string", "model");
        if (body.TryGetProperty("dimensions", out var d) && d.ValueKind != JsonValueKind.Null
            && !(d.ValueKind == JsonValueKind.Number && d.TryGetInt32(out int asked) && asked == dimensions))
            throw new BadRequest($"dimensions = {Show(d)} is not supported: this model's embeddings have {dimensions} dimensions (give {dimensions} or leave it out)", "dimensions");
        bool base64 = false;
        if (body.TryGetProperty("encoding_format", out var f) && f.ValueKind != JsonValueKind.Null)
            base64 = f.ValueKind == JsonValueKind.String ? f.GetString() switch
            {
                "float" => false,
                "base64" => true,
                var other => throw new BadRequest($"encoding_format '{other}' is not one of float, base64", "encoding_format"),
            } : throw new BadRequest("encoding_format must be \"float\" or \"base64\"", "encoding_format");
        if (!body.TryGetProperty("input", out var input) || input.ValueKind == JsonValueKind.Null)
            throw new BadRequest("input is required: a string, an array of strings, or token ids", "input");
        var (texts, tokens) = ReadInput(input, maxInputs, maxChars);
        return new EmbeddingsRequest(model, texts, tokens, base64);
    }

    private static (List<string>? Texts, List<int[]>? Tokens) ReadInput(JsonElement input, int maxInputs, int maxChars)
    {
        if (input.ValueKind == JsonValueKind.String) return ([Text(input, "input", maxChars)], null);
        if (input.ValueKind != JsonValueKind.Array)
            throw new BadRequest($"input must be a string, an array of strings, an array of token ids or an array of token-id arrays, not {Describe(input.ValueKind)}", "input");
        int count = input.GetArrayLength();
        if (count == 0) throw new BadRequest("input must not be an empty array", "input");
        var first = input[0];
        if (first.ValueKind == JsonValueKind.Number) return (null, [TokenIds(input, "input")]);
        if (count > maxInputs) throw new BadRequest($"input has {count} entries; at most {maxInputs} are allowed (actors-server.limits.max-embedding-inputs)", "input");
        if (first.ValueKind == JsonValueKind.String)
        {
            var texts = new List<string>(count);
            int i = 0;
            foreach (var e in input.EnumerateArray())
            {
                if (e.ValueKind != JsonValueKind.String) throw new BadRequest($"input[{i}] is {Describe(e.ValueKind)}; every entry must be a string like the first", $"input[{i}]");
                texts.Add(Text(e, $"input[{i++}]", maxChars));
            }
            return (texts, null);
        }
        var arrays = new List<int[]>(count);
        int j = 0;
        foreach (var e in input.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Array) throw new BadRequest($"input[{j}] is {Describe(e.ValueKind)}; every entry must be an array of token ids like the first", $"input[{j}]");
            arrays.Add(TokenIds(e, $"input[{j++}]"));
        }
        return (null, arrays);
    }

    private static string Text(JsonElement e, string param, int maxChars)
    {
        string s;
        try
        {
            s = e.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw new BadRequest($"{param} is not valid Unicode text (it holds an unpaired surrogate escape such as \\ud800)", param);
        }
        if (s.Length == 0) throw new BadRequest($"{param} is an empty string; there is nothing to embed", param);
        if (s.Length > maxChars) throw new BadRequest($"{param} has {s.Length} characters; at most {maxChars} are allowed", param);
        return s;
    }

    private static int[] TokenIds(JsonElement array, string param)
    {
        var ids = new int[array.GetArrayLength()];
        if (ids.Length == 0) throw new BadRequest($"{param} is an empty array of token ids", param);
        int i = 0;
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out ids[i]) || ids[i] < 0)
                throw new BadRequest($"{param}[{i}] = {Show(e)} is not a token id (a non-negative integer)", $"{param}[{i}]");
            i++;
        }
        return ids;
    }
}
