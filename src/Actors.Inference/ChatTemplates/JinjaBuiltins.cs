using System.Globalization;
using System.Text;

namespace Actors.Inference.ChatTemplates;

/// <summary>
/// The globals, filters, tests and methods chat templates use, with Python's meaning. A name not here is
/// an error naming it and its position, never a silent empty result.
/// </summary>
internal static class JinjaBuiltins
{

    // ---------------------------------------------------------------- globals

    public static object? Global(string name) => name switch
    {
        "range" => (JinjaCallable)Range,
        "namespace" => (JinjaCallable)((args, kwargs) =>
        {
            var values = new OrderedDictionary<string, object?>();
            if (args.Count > 0 && args[0] is OrderedDictionary<string, object?> init) foreach (var (k, v) in init) values[k] = v;
            foreach (var (k, v) in kwargs) values[k] = v;
            return new JinjaNamespace(values);
        }),
        "dict" => (JinjaCallable)((_, kwargs) => new OrderedDictionary<string, object?>(kwargs.Select(kw => KeyValuePair.Create(kw.Name, kw.Value)))),
        "raise_exception" => (JinjaCallable)((args, _) => throw new TemplateRaisedException(args.Count > 0 ? JinjaValues.Str(args[0]) : "the template raised an exception")),
        "strftime_now" => (JinjaCallable)((args, _) => Strftime(DateTime.UtcNow, args.Count > 0 ? JinjaValues.Str(args[0]) : "%Y-%m-%d")),
        _ => null,
    };

    private static object? Range(List<object?> args, List<(string Name, object? Value)> kwargs)
    {
        long start = 0, stop, step = 1;
        var n = args.Select(a => a is long l ? l : throw new JinjaException($"range() takes integers, got {JinjaValues.TypeName(a)}")).ToList();
        if (n.Count == 1) stop = n[0];
        else if (n.Count is 2 or 3) { start = n[0]; stop = n[1]; if (n.Count == 3) step = n[2]; }
        else throw new JinjaException($"range() takes 1 to 3 arguments, got {n.Count}");
        if (step == 0) throw new JinjaException("range() step must not be zero");
        var list = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step) list.Add(i);
        return list;
    }

    /// <summary>The strftime directives date lines in templates use (%d %b %Y %B %m %H %M %S %A %a %y %j %%).</summary>
    public static string Strftime(DateTime t, string format)
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length) { sb.Append(format[i]); continue; }
            char d = format[++i];
            sb.Append(d switch
            {
                'd' => t.ToString("dd", inv), 'm' => t.ToString("MM", inv), 'Y' => t.ToString("yyyy", inv), 'y' => t.ToString("yy", inv),
                'b' => t.ToString("MMM", inv), 'B' => t.ToString("MMMM", inv), 'a' => t.ToString("ddd", inv), 'A' => t.ToString("dddd", inv),
                'H' => t.ToString("HH", inv), 'M' => t.ToString("mm", inv), 'S' => t.ToString("ss", inv), 'j' => t.DayOfYear.ToString("000", inv),
                '%' => "%",
                _ => throw new JinjaException($"strftime_now: unsupported directive '%{d}'"),
            });
        }
        return sb.ToString();
    }

    // ---------------------------------------------------------------- attributes, items, slices

    public static object? GetAttribute(object? target, string name, SourcePosition at)
    {
        switch (target)
        {
            case OrderedDictionary<string, object?> dict:
                if (dict.TryGetValue(name, out var v)) return v;
                return (object?)DictMethod(dict, name) ?? Undefined.Instance;
            case JinjaNamespace ns:
                return ns.Values.TryGetValue(name, out var nv) ? nv : Undefined.Instance;
            case string s:
                return StringMethod(s, name, at);
            case List<object?> list:
                return ListMethod(list, name, at);
            case null or Undefined:
                return Undefined.Instance;
            default:
                throw JinjaException.At(at, $"{JinjaValues.TypeName(target)} has no attribute '{name}'");
        }
    }

    public static object? GetItem(object? target, object? index, SourcePosition at)
    {
        switch (target)
        {
            case OrderedDictionary<string, object?> dict:
                return index is string key && dict.TryGetValue(key, out var v) ? v : Undefined.Instance;
            case JinjaNamespace ns:
                return index is string nk && ns.Values.TryGetValue(nk, out var nv) ? nv : Undefined.Instance;
            case List<object?> list when index is long i:
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : Undefined.Instance;
            case string s when index is long j:
                var runes = s.EnumerateRunes().ToList();
                if (j < 0) j += runes.Count;
                return j >= 0 && j < runes.Count ? runes[(int)j].ToString() : Undefined.Instance;
            case string s when index is string method:
                return StringMethod(s, method, at);
            case null or Undefined:
                return Undefined.Instance;
            default:
                throw JinjaException.At(at, $"cannot index {JinjaValues.TypeName(target)} with {JinjaValues.TypeName(index)}");
        }
    }

    public static object? Slice(object? target, object? start, object? stop, object? step, SourcePosition at)
    {
        long? Int(object? v, string what) => v switch
        {
            null => null,
            long l => l,
            _ => throw JinjaException.At(at, $"slice {what} must be an integer, got {JinjaValues.TypeName(v)}"),
        };
        List<object?> items = target switch
        {
            List<object?> list => list,
            string s => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList(),
            _ => throw JinjaException.At(at, $"cannot slice {JinjaValues.TypeName(target)}"),
        };
        long n = items.Count, st = Int(step, "step") ?? 1;
        if (st == 0) throw JinjaException.At(at, "slice step must not be zero");
        long Clamp(long? v, long dflt)
        {
            if (v is null) return dflt;
            long x = v.Value < 0 ? v.Value + n : v.Value;
            return st > 0 ? Math.Clamp(x, 0, n) : Math.Clamp(x, -1, n - 1);
        }
        long from = Clamp(Int(start, "start"), st > 0 ? 0 : n - 1), to = Clamp(Int(stop, "stop"), st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = from; st > 0 ? i < to : i > to; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Select(r => (string)r!)) : result;
    }

    public static bool Contains(object? container, object? item, SourcePosition at) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        List<object?> list => list.Any(x => JinjaValues.Equals(x, item)),
        OrderedDictionary<string, object?> dict => item is string k && dict.ContainsKey(k),
        JinjaNamespace ns => item is string k && ns.Values.ContainsKey(k),
        Undefined or null => false,
        _ => throw JinjaException.At(at, $"'in' cannot look into {JinjaValues.TypeName(container)} for {JinjaValues.TypeName(item)}"),
    };

    public static object? Arithmetic(string op, object? a, object? b, SourcePosition at)
    {
        if (op == "+")
        {
            if (a is string || b is string)
                return a is string or long or double or bool or null && b is string or long or double or bool or null
                    ? JinjaValues.Str(a) + JinjaValues.Str(b)
                    : throw JinjaException.At(at, $"cannot add {JinjaValues.TypeName(a)} and {JinjaValues.TypeName(b)}");
            if (a is List<object?> x && b is List<object?> y) return x.Concat(y).ToList();
        }
        if (op == "*" && a is string rs && b is long times) return string.Concat(Enumerable.Repeat(rs, (int)Math.Max(0, times)));
        if (op == "*" && a is List<object?> rl && b is long ltimes) return Enumerable.Repeat(rl, (int)Math.Max(0, ltimes)).SelectMany(l => l).ToList();
        if (a is long or double && b is long or double)
        {
            if (a is long p && b is long q)
            {
                switch (op)
                {
                    case "+": return p + q;
                    case "-": return p - q;
                    case "*": return p * q;
                    case "//": return q == 0 ? throw JinjaException.At(at, "integer division by zero") : (long)Math.Floor((double)p / q);
                    case "%": return q == 0 ? throw JinjaException.At(at, "modulo by zero") : ((p % q) + q) % q;
                    case "**" when q >= 0: return (long)Math.Pow(p, q);
                }
            }
            double da = JinjaValues.ToDouble(a), db = JinjaValues.ToDouble(b);
            return op switch
            {
                "+" => da + db,
                "-" => da - db,
                "*" => da * db,
                "/" => db == 0 ? throw JinjaException.At(at, "division by zero") : da / db,
                "//" => Math.Floor(da / db),
                "%" => da - db * Math.Floor(da / db),
                "**" => Math.Pow(da, db),
                _ => throw JinjaException.At(at, $"unsupported operator '{op}'"),
            };
        }
        if (op == "%" && a is string) throw JinjaException.At(at, "unsupported construct '%' string formatting");
        throw JinjaException.At(at, $"cannot apply '{op}' to {JinjaValues.TypeName(a)} and {JinjaValues.TypeName(b)}");
    }

    // ---------------------------------------------------------------- methods

    private static JinjaCallable? DictMethod(OrderedDictionary<string, object?> dict, string name) => name switch
    {
        "items" => (_, _) => dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => dict.Keys.Select(k => (object?)k).ToList(),
        "values" => (_, _) => dict.Values.ToList(),
        "get" => (args, _) => args.Count > 0 && args[0] is string k && dict.TryGetValue(k, out var v) ? v : args.Count > 1 ? args[1] : null,
        _ => null,
    };

    private static JinjaCallable ListMethod(List<object?> list, string name, SourcePosition at) => name switch
    {
        "append" => (args, _) => { list.AddRange(args); return null; },
        "index" => (args, _) => (long)list.FindIndex(x => JinjaValues.Equals(x, args.FirstOrDefault())),
        "count" => (args, _) => (long)list.Count(x => JinjaValues.Equals(x, args.FirstOrDefault())),
        _ => throw JinjaException.At(at, $"unsupported list method '{name}'"),
    };

    private static JinjaCallable StringMethod(string s, string name, SourcePosition at)
    {
        string Arg(List<object?> args, int i, string what) =>
            i < args.Count && args[i] is string v ? v : throw JinjaException.At(at, $"{name}() needs a string {what}");
        string? Chars(List<object?> args) => args.Count > 0 && args[0] is string c ? c : null;
        return name switch
        {
            "strip" => (args, _) => Strip(s, Chars(args), true, true),
            "lstrip" => (args, _) => Strip(s, Chars(args), true, false),
            "rstrip" => (args, _) => Strip(s, Chars(args), false, true),
            "upper" => (_, _) => s.ToUpperInvariant(),
            "lower" => (_, _) => s.ToLowerInvariant(),
            "title" => (_, _) => Title(s),
            "capitalize" => (_, _) => Capitalize(s),
            "startswith" => (args, _) => AnyAffix(args, at, name).Any(p => s.StartsWith(p, StringComparison.Ordinal)),
            "endswith" => (args, _) => AnyAffix(args, at, name).Any(p => s.EndsWith(p, StringComparison.Ordinal)),
            "split" => (args, _) => Split(s, args.Count > 0 && args[0] is string sep ? sep : null, args.Count > 1 && args[1] is long m ? m : -1, at),
            "rsplit" => (args, _) => args.Count > 1 ? throw JinjaException.At(at, "unsupported construct 'rsplit' with maxsplit") : Split(s, Chars(args), -1, at),
            "splitlines" => (_, _) => SplitLines(s),
            "replace" => (args, _) => Replace(s, Arg(args, 0, "to find"), Arg(args, 1, "replacement"), args.Count > 2 && args[2] is long c ? c : -1),
            "find" => (args, _) => (long)s.IndexOf(Arg(args, 0, "to find"), StringComparison.Ordinal),
            "rfind" => (args, _) => (long)s.LastIndexOf(Arg(args, 0, "to find"), StringComparison.Ordinal),
            "count" => (args, _) => (long)CountOf(s, Arg(args, 0, "to count")),
            "join" => (args, _) => string.Join(s, JinjaInterpreter.Iterate(args.FirstOrDefault(), at).Select(JinjaValues.Str)),
            "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
            "isalpha" => (_, _) => s.Length > 0 && s.All(char.IsLetter),
            "isspace" => (_, _) => s.Length > 0 && s.All(char.IsWhiteSpace),
            _ => throw JinjaException.At(at, $"unsupported string method '{name}'"),
        };
    }

    private static IEnumerable<string> AnyAffix(List<object?> args, SourcePosition at, string name) => args.FirstOrDefault() switch
    {
        string p => [p],
        List<object?> list => list.Select(x => x as string ?? throw JinjaException.At(at, $"{name}() takes strings")),
        _ => throw JinjaException.At(at, $"{name}() needs a string or a tuple of strings"),
    };

    /// <summary>
    /// Without <paramref name="chars"/>: whitespace as JavaScript's trim() sees it, which @huggingface/jinja
    /// uses (it strips U+FEFF, Python does not; Python strips U+001C-U+001F and U+0085, JavaScript does not).
    /// With <paramref name="chars"/>: Python's meaning, those characters only (@huggingface/jinja ignores the
    /// argument and strips whitespace; transformers renders with Python, and that is what models saw).
    /// </summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        int start = 0, end = s.Length;
        bool Strippable(char c) => chars is null ? IsJavaScriptWhitespace(c) : chars.Contains(c);
        if (left) while (start < end && Strippable(s[start])) start++;
        if (right) while (end > start && Strippable(s[end - 1])) end--;
        return s[start..end];
    }

    private static bool IsJavaScriptWhitespace(char c) =>
        c is '\t' or '\n' or '\v' or '\f' or '\r' or ' ' or '\u00A0' or '\uFEFF' or '\u2028' or '\u2029'
        || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.SpaceSeparator;

    private static List<object?> Split(string s, string? sep, long maxSplit, SourcePosition at)
    {
        if (sep is null)
        {
            var words = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return words.Select(w => (object?)w).ToList();
        }
        if (sep.Length == 0) throw JinjaException.At(at, "split() separator must not be empty");
        var parts = maxSplit < 0 ? s.Split(sep) : s.Split(sep, (int)Math.Min(int.MaxValue, maxSplit + 1));
        return parts.Select(p => (object?)p).ToList();
    }

    // Python's str.splitlines(): \n, \r and \r\n end lines; no empty last line for a final line break.
    private static List<object?> SplitLines(string s)
    {
        var lines = new List<object?>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] is not ('\n' or '\r')) continue;
            lines.Add(s[start..i]);
            if (s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    private static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? string.Join(replacement, ["", .. s.EnumerateRunes().Select(r => r.ToString()), ""]) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int from = 0;
        for (long k = 0; k < count; k++)
        {
            int at = s.IndexOf(old, from, StringComparison.Ordinal);
            if (at < 0 || old.Length == 0) break;
            sb.Append(s, from, at - from).Append(replacement);
            from = at + old.Length;
        }
        return sb.Append(s, from, s.Length - from).ToString();
    }

    private static int CountOf(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int n = 0;
        for (int at = s.IndexOf(sub, StringComparison.Ordinal); at >= 0; at = s.IndexOf(sub, at + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    // ---------------------------------------------------------------- filters

    public static object? Filter(string name, object? v, List<object?> args, List<(string Name, object? Value)> kwargs, SourcePosition at)
    {
        object? Kw(string key, int position, object? fallback = null) =>
            kwargs.FindIndex(k => k.Name == key) is int i and >= 0 ? kwargs[i].Value : position < args.Count ? args[position] : fallback;
        switch (name)
        {
            case "trim": return Strip(AsString(v, name, at), Kw("chars", 0) as string, true, true);
            case "length" or "count":
                return v switch
                {
                    string s => (long)s.EnumerateRunes().Count(),
                    List<object?> l => (long)l.Count,
                    OrderedDictionary<string, object?> d => (long)d.Count,
                    Undefined => 0L,
                    _ => throw JinjaException.At(at, $"filter '{name}' cannot measure {JinjaValues.TypeName(v)}"),
                };
            case "tojson": return JinjaValues.ToJson(v, Kw("indent", 0) is long ind ? (int)ind : null, at);
            case "upper": return AsString(v, name, at).ToUpperInvariant();
            case "lower": return AsString(v, name, at).ToLowerInvariant();
            case "title": return Title(AsString(v, name, at));
            case "capitalize": return Capitalize(AsString(v, name, at));
            case "string": return JinjaValues.Str(v);
            case "safe" or "e" or "escape" when name == "safe": return v;
            case "e" or "escape":
                return JinjaValues.Str(v).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");
            case "default" or "d":
            {
                bool boolean = JinjaValues.Truthy(Kw("boolean", 1, false));
                return v is Undefined || (boolean && !JinjaValues.Truthy(v)) ? Kw("default_value", 0, "") : v;
            }
            case "first": return v is List<object?> { Count: > 0 } fl ? fl[0] : v is string fs && fs.Length > 0 ? fs[..1] : Undefined.Instance;
            case "last": return v is List<object?> { Count: > 0 } ll ? ll[^1] : v is string ls && ls.Length > 0 ? ls[^1..] : Undefined.Instance;
            case "join":
            {
                string sep = Kw("d", 0, "") as string ?? "";
                var items = JinjaInterpreter.Iterate(v, at);
                if (Kw("attribute", 1) is string attr) items = items.Select(x => GetAttribute(x, attr, at));
                return string.Join(sep, items.Select(JinjaValues.Str));
            }
            case "replace":
                return Replace(AsString(v, name, at), JinjaValues.Str(Kw("old", 0)), JinjaValues.Str(Kw("new", 1)), Kw("count", 2) is long c ? c : -1);
            case "list": return JinjaInterpreter.Iterate(v, at).ToList();
            case "int":
                return v switch
                {
                    long l => l, double d => (long)Math.Truncate(d), bool b => b ? 1L : 0L,
                    string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long p) => p,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double pd) => (long)Math.Truncate(pd),
                    _ => Kw("default", 0, 0L),
                };
            case "float":
                return v switch
                {
                    long l => (double)l, double d => d,
                    string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double p) => p,
                    _ => Kw("default", 0, 0.0),
                };
            case "abs": return v switch { long l => (object)Math.Abs(l), double d => Math.Abs(d), _ => throw JinjaException.At(at, $"filter 'abs' needs a number, got {JinjaValues.TypeName(v)}") };
            case "round":
            {
                int precision = Kw("precision", 0, 0L) is long pr ? (int)pr : 0;
                return Math.Round(JinjaValues.ToDouble(v), precision, MidpointRounding.ToEven);
            }
            case "items":
                return v is OrderedDictionary<string, object?> dict
                    ? dict.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                    : v is Undefined ? new List<object?>() : throw JinjaException.At(at, $"filter 'items' needs a mapping, got {JinjaValues.TypeName(v)}");
            case "dictsort":
                return v is OrderedDictionary<string, object?> ds
                    ? ds.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                    : throw JinjaException.At(at, $"filter 'dictsort' needs a mapping, got {JinjaValues.TypeName(v)}");
            case "map":
            {
                var items = JinjaInterpreter.Iterate(v, at);
                if (Kw("attribute", -1) is string attribute) return items.Select(x => GetAttribute(x, attribute, at) is Undefined && Kw("default", -1) is { } dv ? dv : GetAttribute(x, attribute, at)).ToList();
                if (args.Count > 0 && args[0] is string filter) return items.Select(x => Filter(filter, x, args.Skip(1).ToList(), [], at)).ToList();
                throw JinjaException.At(at, "filter 'map' needs attribute= or a filter name");
            }
            case "select" or "reject":
            {
                bool keep = name == "select";
                var items = JinjaInterpreter.Iterate(v, at);
                if (args.Count == 0) return items.Where(x => JinjaValues.Truthy(x) == keep).ToList();
                string test = args[0] as string ?? throw JinjaException.At(at, $"filter '{name}' needs a test name");
                return items.Where(x => Test(test, x, args.Skip(1).ToList(), at) == keep).ToList();
            }
            case "selectattr" or "rejectattr":
            {
                bool keep = name == "selectattr";
                string attribute = args.Count > 0 && args[0] is string a ? a : throw JinjaException.At(at, $"filter '{name}' needs an attribute name");
                var items = JinjaInterpreter.Iterate(v, at);
                if (args.Count == 1) return items.Where(x => JinjaValues.Truthy(GetAttribute(x, attribute, at)) == keep).ToList();
                string test = args[1] as string ?? throw JinjaException.At(at, $"filter '{name}' needs a test name");
                return items.Where(x => Test(test, GetAttribute(x, attribute, at), args.Skip(2).ToList(), at) == keep).ToList();
            }
            case "reverse":
                return v is string rs ? string.Concat(rs.EnumerateRunes().Reverse().Select(r => r.ToString())) : JinjaInterpreter.Iterate(v, at).Reverse().ToList();
            case "sort":
            {
                var items = JinjaInterpreter.Iterate(v, at).ToList();
                string? attribute = Kw("attribute", 2) as string;
                object? Key(object? x) => attribute is null ? x : GetAttribute(x, attribute, at);
                items.Sort((x, y) => JinjaValues.Compare(Key(x), Key(y), at));
                if (JinjaValues.Truthy(Kw("reverse", 0, false))) items.Reverse();
                return items;
            }
            case "unique":
            {
                var result = new List<object?>();
                foreach (var x in JinjaInterpreter.Iterate(v, at)) if (!result.Any(r => JinjaValues.Equals(r, x))) result.Add(x);
                return result;
            }
            case "indent":
            {
                long width = Kw("width", 0, 4L) is long w ? w : 4;
                bool first = JinjaValues.Truthy(Kw("first", 1, false)), blank = JinjaValues.Truthy(Kw("blank", 2, false));
                string pad = new(' ', (int)width);
                var lines = AsString(v, name, at).Split('\n');
                for (int i = 0; i < lines.Length; i++)
                    if ((i > 0 || first) && (blank || lines[i].Length > 0)) lines[i] = pad + lines[i];
                return string.Join("\n", lines);
            }
            case "min" or "max":
            {
                var items = JinjaInterpreter.Iterate(v, at).ToList();
                if (items.Count == 0) return Undefined.Instance;
                var best = items[0];
                foreach (var x in items.Skip(1))
                    if ((JinjaValues.Compare(x, best, at) < 0) == (name == "min")) best = x;
                return best;
            }
            case "sum": return JinjaInterpreter.Iterate(v, at).Aggregate((object?)0L, (acc, x) => Arithmetic("+", acc, x, at));
            case "wordcount": return (long)AsString(v, name, at).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            default: throw JinjaException.At(at, $"unknown filter '{name}'");
        }
    }

    private static string AsString(object? v, string filter, SourcePosition at) => v switch
    {
        string s => s,
        Undefined => "",
        _ => JinjaValues.Str(v),
    };

    // ---------------------------------------------------------------- tests

    public static bool Test(string name, object? v, List<object?> args, SourcePosition at)
    {
        object? Arg() => args.Count > 0 ? args[0] : throw JinjaException.At(at, $"test '{name}' needs an argument");
        return name switch
        {
            "defined" => v is not Undefined,
            "undefined" => v is Undefined,
            "none" => v is null,
            "boolean" => v is bool,
            "true" => v is true,
            "false" => v is false,
            "string" => v is string,
            "number" => v is long or double,
            "integer" => v is long,
            "float" => v is double,
            "mapping" => v is OrderedDictionary<string, object?> or JinjaNamespace,
            "iterable" => v is string or List<object?> or OrderedDictionary<string, object?>,
            "sequence" => v is string or List<object?> or OrderedDictionary<string, object?>,
            "callable" => v is JinjaCallable,
            "odd" => v is long o ? o % 2 != 0 : throw JinjaException.At(at, "test 'odd' needs an integer"),
            "even" => v is long e ? e % 2 == 0 : throw JinjaException.At(at, "test 'even' needs an integer"),
            "divisibleby" => v is long n && Arg() is long m && m != 0 && n % m == 0,
            "eq" or "equalto" or "==" or "sameas" => JinjaValues.Equals(v, Arg()),
            "ne" or "!=" => !JinjaValues.Equals(v, Arg()),
            "lt" or "lessthan" or "<" => JinjaValues.Compare(v, Arg(), at) < 0,
            "gt" or "greaterthan" or ">" => JinjaValues.Compare(v, Arg(), at) > 0,
            "le" or "<=" => JinjaValues.Compare(v, Arg(), at) <= 0,
            "ge" or ">=" => JinjaValues.Compare(v, Arg(), at) >= 0,
            "in" => Contains(Arg(), v, at),
            "lower" => v is string ls && ls == ls.ToLowerInvariant(),
            "upper" => v is string us && us == us.ToUpperInvariant(),
            _ => throw JinjaException.At(at, $"unknown test '{name}'"),
        };
    }
}
