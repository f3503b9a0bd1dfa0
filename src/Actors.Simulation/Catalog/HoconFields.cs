using System.Globalization;
using Akka.Configuration;

namespace Actors.Simulation.Catalog;

/// <summary>
/// Typed reads from one HOCON object with errors that name the full key. Akka's Config returns 0 or
/// null for a missing key, which would silently turn a typo into "0 GB/s"; every read here checks
/// presence and range first.
/// </summary>
internal readonly struct HoconFields(Config config, string path)
{
    public string Path => path;

    public bool Has(string key) => config.HasPath(key);

    public double RequiredDouble(string key, double min = double.Epsilon, double max = double.MaxValue)
    {
        if (!config.HasPath(key)) throw new CatalogException($"{path}.{key} is missing");
        string text = config.GetString(key) ?? "";
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            throw new CatalogException($"{path}.{key} = '{text}' is not a number");
        if (!(v >= min && v <= max))
            throw new CatalogException($"{path}.{key} = {text} is out of range [{Format(min)}, {Format(max)}]");
        return v;
    }

    public double OptionalDouble(string key, double fallback, double min = 0, double max = double.MaxValue)
        => config.HasPath(key) ? RequiredDouble(key, min, max) : fallback;

    public int RequiredInt(string key, int min = 1, int max = int.MaxValue)
    {
        double v = RequiredDouble(key, min, max);
        if (v != Math.Floor(v)) throw new CatalogException($"{path}.{key} = {v} must be a whole number");
        return (int)v;
    }

    public string? OptionalString(string key) => config.HasPath(key) ? config.GetString(key) : null;

    /// <summary>The named child objects of a nested section (e.g. one kernel per weight format).</summary>
    public IEnumerable<(string Key, HoconFields Fields)> Objects(string key)
    {
        if (!config.HasPath(key)) yield break;
        var sub = config.GetConfig(key);
        foreach (var entry in sub.AsEnumerable())
        {
            if (!entry.Value.IsObject()) throw new CatalogException($"{path}.{key}.{entry.Key} must be an object {{ ... }}");
            yield return (entry.Key, new HoconFields(sub.GetConfig($"\"{entry.Key}\""), $"{path}.{key}.{entry.Key}"));
        }
    }

    public bool OptionalBool(string key, bool fallback)
    {
        if (!config.HasPath(key)) return fallback;
        string text = config.GetString(key) ?? "";
        return text switch
        {
            "true" or "on" or "yes" => true,
            "false" or "off" or "no" => false,
            _ => throw new CatalogException($"{path}.{key} = '{text}' is not a boolean"),
        };
    }

    private static string Format(double v) => v == double.MaxValue ? "inf" : v == double.Epsilon ? "0 (exclusive)" : v.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Enumerates the named children of a HOCON section (e.g. every GPU under `gpus`).</summary>
internal static class HoconSections
{
    public static IEnumerable<(string Name, HoconFields Fields)> Children(Config root, string section)
    {
        if (!root.HasPath(section)) yield break;
        var sub = root.GetConfig(section);
        foreach (var entry in sub.AsEnumerable())
        {
            if (!entry.Value.IsObject())
                throw new CatalogException($"{section}.{entry.Key} must be an object {{ ... }}");
            // Quote the key: names such as "h100-sxm" are fine bare, but a dotted name would be a path.
            yield return (entry.Key, new HoconFields(sub.GetConfig($"\"{entry.Key}\""), $"{section}.{entry.Key}"));
        }
    }

    public static Config Parse(string text, string source)
    {
        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception e) when (e is not CatalogException)
        {
            throw new CatalogException($"{source}: not valid HOCON: {e.Message}");
        }
    }

    /// <summary>Reads a catalog shipped inside this assembly (so the CLI works from any directory).</summary>
    public static string ReadEmbedded(string logicalName)
    {
        using var stream = typeof(HoconSections).Assembly.GetManifestResourceStream(logicalName)
            ?? throw new CatalogException($"embedded catalog '{logicalName}' is missing from {typeof(HoconSections).Assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
