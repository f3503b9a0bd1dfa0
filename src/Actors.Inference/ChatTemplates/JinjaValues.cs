using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Actors.Inference.ChatTemplates;

/// <summary>Jinja's undefined: what a missing variable, key or attribute evaluates to.</summary>
public sealed class Undefined
{
    public static readonly Undefined Instance = new();
    private Undefined() { }
    public override string ToString() => "";
}

/// <summary>The object namespace(...) makes: attributes a loop body can set and the code after it can read.</summary>
internal sealed class JinjaNamespace(OrderedDictionary<string, object?> values)
{
    public OrderedDictionary<string, object?> Values { get; } = values;
}

/// <summary>A function value (a macro, a global such as range, or a bound string/dict method).</summary>
internal delegate object? JinjaCallable(List<object?> args, List<(string Name, object? Value)> kwargs);

/// <summary>
/// Template values are plain .NET objects: null (None), <see cref="Undefined"/>, bool, long, double, string,
/// List&lt;object?&gt; (lists and tuples), OrderedDictionary&lt;string, object?&gt; (dicts, in insertion
/// order), <see cref="JinjaNamespace"/> and <see cref="JinjaCallable"/>. These helpers give them Python's
/// meaning: truth, str(), equality, ordering, JSON.
/// </summary>
internal static class JinjaValues
{
    public static bool IsUndefined(object? v) => v is Undefined;

    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        OrderedDictionary<string, object?> dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>
    /// What {{ v }} prints, as @huggingface/jinja prints it (the reference here; Python's Jinja differs):
    /// none and undefined print nothing, booleans "true"/"false", lists and dicts as JSON.
    /// </summary>
    public static string Str(object? v) => v switch
    {
        string s => s,
        null or Undefined => "",
        bool b => b ? "true" : "false",
        List<object?> or OrderedDictionary<string, object?> => ToJson(v, null, default),
        _ => Repr(v),
    };

    /// <summary>Python's repr(), as lists and dicts print their items.</summary>
    public static string Repr(object? v)
    {
        switch (v)
        {
            case null: return "None";
            case Undefined: return "";
            case bool b: return b ? "True" : "False";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return FormatDouble(d);
            case string s: return "'" + s.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'";
            case List<object?> list: return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case OrderedDictionary<string, object?> dict: return "{" + string.Join(", ", dict.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case JinjaNamespace: return "<Namespace>";
            default: return v.ToString() ?? "";
        }
    }

    public static string FormatDouble(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        return r.Contains('.') || r.Contains('E') ? r : r + ".0";
    }

    public static string TypeName(object? v) => v switch
    {
        null => "none", Undefined => "undefined", bool => "boolean", long => "integer", double => "float", string => "string",
        List<object?> => "list", OrderedDictionary<string, object?> => "dict", JinjaNamespace => "namespace", JinjaCallable => "function",
        _ => v.GetType().Name,
    };

    public static new bool Equals(object? a, object? b)
    {
        if (a is long or double && b is long or double && a is not bool && b is not bool) return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (Undefined, Undefined) => true,
            (string x, string y) => string.Equals(x, y, StringComparison.Ordinal),
            (bool x, bool y) => x == y,
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => Equals(p.First, p.Second)),
            (OrderedDictionary<string, object?> x, OrderedDictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var o) && Equals(kv.Value, o)),
            _ => ReferenceEquals(a, b),
        };
    }

    public static int Compare(object? a, object? b, SourcePosition at)
    {
        if (a is long or double && b is long or double) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        if (a is bool p && b is bool q) return p.CompareTo(q);
        throw JinjaException.At(at, $"cannot compare {TypeName(a)} with {TypeName(b)}");
    }

    public static double ToDouble(object? v) => v switch { long l => l, double d => d, bool b => b ? 1 : 0, _ => double.NaN };

    // ---------------------------------------------------------------- JSON in and out

    /// <summary>JSON (a request's messages, tools, kwargs) as template values, object key order kept.</summary>
    public static object? FromJson(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => new OrderedDictionary<string, object?>(o.Select(kv => KeyValuePair.Create(kv.Key, FromJson(kv.Value)))),
        JsonArray a => a.Select(FromJson).ToList(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => v.TryGetValue(out long l) ? (object)l : v.GetValue<double>(),
            _ => null,
        },
        _ => null,
    };

    /// <summary>
    /// The tojson filter as Hugging Face renders it: Python's json.dumps separators (", " and ": ", or ","
    /// with an indent), non-ASCII kept, key order kept.
    /// </summary>
    public static string ToJson(object? v, int? indent, SourcePosition at)
    {
        var sb = new StringBuilder();
        WriteJson(sb, v, indent, 0, at);
        return sb.ToString();
    }

    private static void WriteJson(StringBuilder sb, object? v, int? indent, int depth, SourcePosition at)
    {
        string itemSeparator = indent is > 0 ? "," : ", ";
        string pad = indent is > 0 ? "\n" + new string(' ', indent.Value * depth) : "";
        string childPad = indent is > 0 ? "\n" + new string(' ', indent.Value * (depth + 1)) : "";
        switch (v)
        {
            case null or Undefined: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d: sb.Append(JsonNumber(d)); break;
            case string s: WriteJsonString(sb, s); break;
            case List<object?> list:
                if (list.Count == 0) { sb.Append("[]"); break; }
                sb.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) sb.Append(itemSeparator);
                    sb.Append(childPad);
                    WriteJson(sb, list[i], indent, depth + 1, at);
                }
                sb.Append(pad).Append(']');
                break;
            case OrderedDictionary<string, object?> or JinjaNamespace:
                var dict = v as OrderedDictionary<string, object?> ?? ((JinjaNamespace)v).Values;
                if (dict.Count == 0) { sb.Append("{}"); break; }
                sb.Append('{');
                int k = 0;
                foreach (var (key, value) in dict)
                {
                    if (k++ > 0) sb.Append(itemSeparator);
                    sb.Append(childPad);
                    WriteJsonString(sb, key);
                    sb.Append(": ");
                    WriteJson(sb, value, indent, depth + 1, at);
                }
                sb.Append(pad).Append('}');
                break;
            default:
                throw JinjaException.At(at, $"tojson cannot write a {TypeName(v)}");
        }
    }

    // JavaScript's number formatting (what @huggingface/jinja's tojson prints): 1.0 is "1", 1e21 is "1e+21".
    private static string JsonNumber(double d)
    {
        if (double.IsNaN(d) || double.IsInfinity(d)) return "null";
        if (d == Math.Floor(d) && Math.Abs(d) < 1e21) return ((decimal)d).ToString(CultureInfo.InvariantCulture);
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        return r.Replace("E+", "e+").Replace("E-", "e-");
    }

    private static void WriteJsonString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case < ' ': sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)); break;
                default: sb.Append(c); break;
            }
        }
        sb.Append('"');
    }
}
