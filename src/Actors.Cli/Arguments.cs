using System.Globalization;

namespace Actors.Cli;

/// <summary>One option a command accepts, for parsing and for the help text.</summary>
public sealed record OptionSpec(string Name, string Description, string? Default = null, bool IsFlag = false);

/// <summary>
/// Parsed `--name value` / `--flag` arguments of one command. Unknown options, missing values and
/// values of the wrong type are <see cref="CliException"/>s naming the option and the value.
/// </summary>
public sealed class Arguments
{
    private readonly Dictionary<string, string?> _values = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OptionSpec> _specs;

    public Arguments(string command, IReadOnlyList<string> args, IReadOnlyList<OptionSpec> specs)
    {
        _specs = specs.ToDictionary(s => s.Name);
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            if (!a.StartsWith("--", StringComparison.Ordinal))
                throw new CliException($"unexpected argument '{a}' (options start with --; see 'actors {command} --help')");
            string name = a[2..];
            string? inline = null;
            int eq = name.IndexOf('=');
            if (eq >= 0) { inline = name[(eq + 1)..]; name = name[..eq]; }
            if (!_specs.TryGetValue(name, out var spec))
                throw new CliException($"unknown option '--{name}' (known: {string.Join(", ", specs.Select(s => "--" + s.Name))})");
            if (spec.IsFlag)
            {
                _values[name] = inline ?? "true";
                continue;
            }
            if (inline == null)
            {
                if (i + 1 >= args.Count) throw new CliException($"option '--{name}' needs a value");
                inline = args[++i];
            }
            _values[name] = inline;
        }
    }

    public bool Has(string name) => _values.ContainsKey(name);

    public string? String(string name) => _values.TryGetValue(name, out var v) ? v : _specs[name].Default;

    public string RequireString(string name) => String(name) ?? throw new CliException($"option '--{name}' is required");

    public bool Flag(string name) => String(name) is { } v && (v == "true" || v == "1" || v == "yes");

    public int Int(string name, int min = int.MinValue, int max = int.MaxValue)
    {
        string v = RequireString(name);
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out int r))
            throw new CliException($"option '--{name}' must be an integer, got '{v}'");
        if (r < min || r > max) throw new CliException($"option '--{name}' must be between {min} and {max}, got {r}");
        return r;
    }

    public double Double(string name, double min = double.MinValue, double max = double.MaxValue)
    {
        string v = RequireString(name);
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double r) || double.IsNaN(r))
            throw new CliException($"option '--{name}' must be a number, got '{v}'");
        if (r < min || r > max) throw new CliException($"option '--{name}' must be between {min} and {max}, got {v}");
        return r;
    }

    public ulong? ULong(string name)
    {
        string? v = String(name);
        if (v == null) return null;
        if (!ulong.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out ulong r))
            throw new CliException($"option '--{name}' must be a non-negative integer, got '{v}'");
        return r;
    }

    /// <summary>A comma-separated list of integers such as "1,2,3".</summary>
    public int[]? IntList(string name)
    {
        string? v = String(name);
        if (v == null) return null;
        var parts = v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0) throw new CliException($"option '--{name}' needs at least one integer, got '{v}'");
        var result = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out result[i]))
                throw new CliException($"option '--{name}': '{parts[i]}' is not an integer");
        return result;
    }

    public static string Help(string command, string summary, IReadOnlyList<OptionSpec> specs)
    {
        var lines = new List<string> { $"actors {command}: {summary}", "", "options:" };
        int width = specs.Max(s => s.Name.Length) + 4;
        foreach (var s in specs)
            lines.Add($"  --{s.Name.PadRight(width)}{s.Description}{(s.Default != null ? $" (default: {s.Default})" : "")}");
        return string.Join(Environment.NewLine, lines);
    }
}
