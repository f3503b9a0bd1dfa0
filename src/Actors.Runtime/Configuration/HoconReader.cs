using System.Globalization;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace Actors.Runtime.Configuration;

/// <summary>
/// Reads values under one HOCON path with validation. Every error names the full key, the value
/// found and what is allowed, so a bad deployment file fails at start with a useful message.
/// </summary>
public sealed class HoconReader(Config config, string prefix)
{
    public Config Config { get; } = config;
    public string Prefix { get; } = prefix;

    private string Key(string key) => Prefix.Length == 0 ? key : $"{Prefix}.{key}";

    public bool Has(string key) => Config.HasPath(key);

    private string Raw(string key)
    {
        if (!Config.HasPath(key)) throw new InvalidConfigurationException($"{Key(key)} is missing (it has a default in reference.conf; is the runtime's configuration loaded?)");
        return Config.GetString(key) ?? "";
    }

    public string String(string key) => Raw(key);

    public int Int(string key, int min = int.MinValue, int max = int.MaxValue)
    {
        string raw = Raw(key);
        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v))
            throw new InvalidConfigurationException($"{Key(key)} = \"{raw}\" is not an integer");
        if (v < min || v > max)
            throw new InvalidConfigurationException($"{Key(key)} = {v} is out of range: allowed {Describe(min, max)}");
        return v;
    }

    public double Double(string key, double min = double.MinValue, double max = double.MaxValue)
    {
        string raw = Raw(key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) || double.IsNaN(v))
            throw new InvalidConfigurationException($"{Key(key)} = \"{raw}\" is not a number");
        if (v < min || v > max)
            throw new InvalidConfigurationException($"{Key(key)} = {raw} is out of range: allowed {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
        return v;
    }

    public bool Bool(string key)
    {
        string raw = Raw(key);
        return raw.ToLowerInvariant() switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw new InvalidConfigurationException($"{Key(key)} = \"{raw}\" is not a boolean (on/off, true/false, yes/no)"),
        };
    }

    public TimeSpan Duration(string key, TimeSpan? min = null)
    {
        string raw = Raw(key);
        if (!TryParseDuration(raw, out var v))
            throw new InvalidConfigurationException($"{Key(key)} = \"{raw}\" is not a duration (e.g. 30s, 250ms, 15us)");
        if (min is { } m && v < m) throw new InvalidConfigurationException($"{Key(key)} = {raw} is too short: at least {m.TotalMilliseconds} ms");
        return v;
    }

    /// <summary>HOCON durations: a number and a unit (ns, us/µs, ms, s, m, h, d, also spelled out); a bare number is milliseconds.</summary>
    public static bool TryParseDuration(string text, out TimeSpan value)
    {
        value = default;
        text = text.Trim();
        int i = 0;
        while (i < text.Length && (char.IsDigit(text[i]) || text[i] is '.' or '-' or '+' or 'e' or 'E') && !(text[i] is 'e' or 'E' && (i + 1 >= text.Length || !char.IsDigit(text[i + 1]) && text[i + 1] is not '-' and not '+'))) i++;
        if (!double.TryParse(text[..i], NumberStyles.Float, CultureInfo.InvariantCulture, out double n) || n < 0) return false;
        double seconds = text[i..].Trim().ToLowerInvariant() switch
        {
            "ns" or "nanosecond" or "nanoseconds" => n * 1e-9,
            "us" or "µs" or "microsecond" or "microseconds" => n * 1e-6,
            "" or "ms" or "millisecond" or "milliseconds" => n * 1e-3,
            "s" or "second" or "seconds" => n,
            "m" or "minute" or "minutes" => n * 60,
            "h" or "hour" or "hours" => n * 3600,
            "d" or "day" or "days" => n * 86400,
            _ => double.NaN,
        };
        if (double.IsNaN(seconds)) return false;
        value = TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond));
        return true;
    }

    /// <summary>One of the allowed words (case-insensitive), returned in lower case.</summary>
    public string OneOf(string key, params string[] allowed)
    {
        string raw = Raw(key).Trim().ToLowerInvariant();
        if (Array.IndexOf(allowed, raw) < 0)
            throw new InvalidConfigurationException($"{Key(key)} = \"{Raw(key)}\" is not allowed: use one of {string.Join(", ", allowed)}");
        return raw;
    }

    /// <summary>The objects of a HOCON array of objects, each as a reader naming its index.</summary>
    public IReadOnlyList<HoconReader> ObjectList(string key)
    {
        if (!Config.HasPath(key)) return [];
        var value = Config.GetValue(key);
        if (value == null || value.IsEmpty) return [];
        // Akka's HOCON reports an empty list "[]" as not an array; GetArray still reads it (as empty).
        if (value.Values is [Akka.Configuration.Hocon.HoconArray { Count: 0 }]) return [];
        if (!value.IsArray()) throw new InvalidConfigurationException($"{Key(key)} must be a list, e.g. [ {{ ... }} ]");
        var items = value.GetArray();
        var result = new List<HoconReader>(items.Count);
        for (int i = 0; i < items.Count; i++)
        {
            if (!items[i].IsObject()) throw new InvalidConfigurationException($"{Key(key)}[{i}] must be an object {{ ... }}");
            result.Add(new HoconReader(new Config(new HoconRoot(items[i])), $"{Key(key)}[{i}]"));
        }
        return result;
    }

    public HoconReader Section(string key) =>
        Config.HasPath(key) ? new HoconReader(Config.GetConfig(key), Key(key)) : throw new InvalidConfigurationException($"{Key(key)} is missing");

    private static string Describe(int min, int max) =>
        max == int.MaxValue ? $"{min} or more" : min == int.MinValue ? $"at most {max}" : $"{min} to {max}";
}
