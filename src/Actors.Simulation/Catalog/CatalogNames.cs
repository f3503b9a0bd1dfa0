namespace Actors.Simulation.Catalog;

/// <summary>
/// Name lookup that forgives spelling: "rtx3090", "RTX-3090" and "rtx_3090" all find "rtx-3090";
/// "llama2-70b" finds "llama-2-70b"; "q4_k" finds "Q4_K". Names are compared exactly (ignoring case)
/// first, then with every character that is not a letter or digit removed. A loose form that matches
/// two entries matches neither, so a lookup never guesses.
/// </summary>
internal static class CatalogNames
{
    public static bool TryFind<T>(IReadOnlyDictionary<string, T> entries, string name, out T value)
    {
        if (entries.TryGetValue(name, out value!)) return true;
        string loose = Loose(name);
        var hits = entries.Where(e => Loose(e.Key) == loose).Take(2).ToArray();
        if (hits.Length == 1)
        {
            value = hits[0].Value;
            return true;
        }
        value = default!;
        return false;
    }

    /// <summary>Lower case, letters and digits only.</summary>
    public static string Loose(string name) => new(name.Where(char.IsLetterOrDigit).Select(char.ToLowerInvariant).ToArray());
}
