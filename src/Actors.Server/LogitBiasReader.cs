using System.Globalization;
using System.Text.Json;
using static Actors.Server.RequestMapper;

namespace Actors.Server;

/// <summary>
/// OpenAI's logit_bias: an object mapping token ids (as strings, the JSON way) to a bias from -100 to 100.
/// Every key must be a token of the served model's vocabulary; a bad key or value is a 400 naming it.
/// </summary>
public static class LogitBiasReader
{
    public static Dictionary<int, float>? Read(JsonElement bias, int vocabSize)
    {
        switch (bias.ValueKind)
        {
            case JsonValueKind.Undefined or JsonValueKind.Null:
                return null;
            case JsonValueKind.Object:
                break;
            default:
                throw new BadRequest($"logit_bias must be an object mapping token ids to a bias from -100 to 100, not {Describe(bias.ValueKind)}", "logit_bias");
        }
        Dictionary<int, float>? result = null;
        foreach (var entry in bias.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, NumberStyles.None, CultureInfo.InvariantCulture, out int token) || token >= vocabSize)
                throw new BadRequest($"logit_bias key '{entry.Name}' is not a token id of this model: keys are token ids from 0 to {vocabSize - 1}", "logit_bias");
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetDouble(out double value) || !(value >= -100 && value <= 100))
                throw new BadRequest($"logit_bias[\"{entry.Name}\"] = {Show(entry.Value)} is out of range: a bias is a number from -100 to 100", "logit_bias");
            (result ??= [])[token] = (float)value;
        }
        return result;
    }
}
