using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace Actors.Runtime.Configuration;

/// <summary>
/// Rejects keys under a section that its embedded reference.conf does not define, naming the key and
/// the nearest valid one (by edit distance): a misspelled `model.pth` must fail at start rather than
/// silently serve the default model.
/// </summary>
public static class KnownKeys
{
    /// <summary>
    /// Checks every key under <paramref name="root"/> in <paramref name="config"/> (and its fallbacks)
    /// against <paramref name="reference"/>. <paramref name="listElementKeys"/> gives the keys allowed in
    /// the objects of a list (e.g. "devices" → id, kind, threads, spec); keys under an
    /// <paramref name="openSections"/> entry are free-form (e.g. dispatchers the runtime adds itself).
    /// </summary>
    public static void Check(Config config, Config reference, string root,
        IReadOnlyDictionary<string, string[]>? listElementKeys = null, params string[] openSections)
    {
        var valid = new HashSet<string>(StringComparer.Ordinal);
        if (reference.HasPath(root)) Collect(reference.GetConfig(root).Root, "", valid, leavesOnly: false);
        listElementKeys ??= new Dictionary<string, string[]>();
        for (var c = config; c != null; c = c.Fallback)
        {
            if (c.Root is null || !c.Root.IsObject() || !c.Root.GetObject().Items.TryGetValue(root, out var section)) continue;
            var found = new List<(string Key, HoconValue Value)>();
            Walk(section, "", found);
            foreach (var (key, value) in found)
            {
                if (openSections.Any(s => key == s || key.StartsWith(s + ".", StringComparison.Ordinal))) continue;
                if (!valid.Contains(key)) throw Unknown(root, key, valid);
                if (listElementKeys.TryGetValue(key, out var allowed) && value.IsArray())
                    CheckListElements(root, key, value, allowed);
            }
        }
    }

    private static void CheckListElements(string root, string key, HoconValue list, string[] allowed)
    {
        var items = list.GetArray();
        for (int i = 0; i < items.Count; i++)
        {
            if (!items[i].IsObject()) continue; // the settings reader reports a non-object element
            foreach (var name in items[i].GetObject().Items.Keys)
                if (Array.IndexOf(allowed, name) < 0)
                    throw new InvalidConfigurationException(
                        $"{root}.{key}[{i}].{name} is not a known key{Suggestion(name, allowed)} (allowed: {string.Join(", ", allowed)})");
        }
    }

    private static InvalidConfigurationException Unknown(string root, string key, HashSet<string> valid) =>
        new($"{root}.{key} is not a known key{Suggestion(key, valid, root + ".")}");

    private static string Suggestion(string key, IEnumerable<string> valid, string prefix = "")
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (var v in valid)
        {
            int d = EditDistance(key, v);
            if (d < bestDistance || d == bestDistance && string.CompareOrdinal(v, best) < 0) (best, bestDistance) = (v, d);
        }
        return best is null ? "" : $": did you mean {prefix}{best}?";
    }

    /// <summary>Every key path below a value: objects are walked, anything else (a leaf or a list) is one key.</summary>
    private static void Walk(HoconValue value, string path, List<(string, HoconValue)> found)
    {
        if (value.IsObject())
        {
            var items = value.GetObject().Items;
            if (items.Count == 0 && path.Length > 0) found.Add((path, value));
            foreach (var (name, child) in items) Walk(child, path.Length == 0 ? name : $"{path}.{name}", found);
        }
        else if (path.Length > 0) found.Add((path, value));
    }

    /// <summary>Valid paths: every leaf and every object (so an empty object such as `model {}` is fine too).</summary>
    private static void Collect(HoconValue value, string path, HashSet<string> valid, bool leavesOnly)
    {
        if (path.Length > 0 && (!leavesOnly || !value.IsObject())) valid.Add(path);
        if (!value.IsObject()) return;
        foreach (var (name, child) in value.GetObject().Items) Collect(child, path.Length == 0 ? name : $"{path}.{name}", valid, leavesOnly);
    }

    /// <summary>Levenshtein distance (insertions, deletions, substitutions all cost 1).</summary>
    public static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
