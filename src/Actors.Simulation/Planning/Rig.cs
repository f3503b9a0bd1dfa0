using System.Globalization;
using Actors.Simulation.Catalog;

namespace Actors.Simulation.Planning;

/// <summary>
/// Builds a <see cref="Topology"/> from the way people describe a rig: "4xrtx3090" or "4x rtx-3090",
/// a PCIe generation ("pcie4") or a catalog link name, NVLink pairs ("0-1,2-3") or an NVSwitch.
/// Every error is one line naming the bad value.
/// </summary>
public static class Rig
{
    /// <summary>
    /// "4xrtx3090", "4x rtx-3090", "4*rtx-3090" or just "rtx-3090" (one card). The GPU name is looked
    /// up forgivingly (<see cref="HardwareCatalog.Gpu"/>).
    /// </summary>
    public static (int Count, GpuSpec Gpu) ParseGpus(HardwareCatalog catalog, string text)
    {
        string s = text.Trim();
        int count = 1;
        int digits = 0;
        while (digits < s.Length && char.IsAsciiDigit(s[digits])) digits++;
        if (digits > 0)
        {
            int rest = digits;
            while (rest < s.Length && s[rest] == ' ') rest++;
            if (rest < s.Length && (s[rest] is 'x' or 'X' or '*'))
            {
                if (!int.TryParse(s[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out count) || count < 1 || count > 4096)
                    throw new CatalogException($"GPU count in '{text}' must be between 1 and 4096");
                s = s[(rest + 1)..].Trim();
            }
        }
        if (s.Length == 0) throw new CatalogException($"'{text}' names no GPU (expected e.g. 4xrtx3090 or '4x rtx-3090')");
        return (count, catalog.Gpu(s));
    }

    /// <summary>
    /// The link between two cards without NVLink. "pcie3|4|5" is the card's own path on that PCIe
    /// generation: host-staged for GeForce cards (the stock driver refuses peer-to-peer), P2P for
    /// data-centre cards. "pcie4-p2p" forces peer-to-peer (a patched GeForce driver); any catalog link
    /// name is taken as it is.
    /// </summary>
    public static LinkSpec ResolveLink(HardwareCatalog catalog, GpuSpec gpu, string text)
    {
        string name = CatalogNames.Loose(text);
        if (name.StartsWith("nvlink", StringComparison.Ordinal) || name == "nvswitch")
            throw new CatalogException($"link '{text}': NVLink is given with --nvlink-pairs or --nvswitch; --link is the PCIe path between cards that have none");
        foreach (int gen in new[] { 3, 4, 5 })
        {
            if (name == $"pcie{gen}" || name == $"gen{gen}")
            {
                bool staged = catalog.Link(gpu.Pcie).Name.StartsWith("host-staged", StringComparison.Ordinal);
                return staged && catalog.Links.ContainsKey($"host-staged-pcie{gen}") ? catalog.Link($"host-staged-pcie{gen}") : catalog.Link($"pcie{gen}-x16");
            }
            if (name == $"pcie{gen}p2p") return catalog.Link($"pcie{gen}-x16");
        }
        if (CatalogNames.TryFind(catalog.Links, text, out var link)) return link;
        throw new CatalogException($"unknown link '{text}' (known: pcie3, pcie4, pcie5, pcie3-p2p, pcie4-p2p, pcie5-p2p, {HardwareCatalog.Known(catalog.Links.Keys)})");
    }

    /// <summary>NVLink pairs such as "0-1,2-3".</summary>
    public static IReadOnlyList<(int A, int B)> ParsePairs(string text)
    {
        var pairs = new List<(int, int)>();
        foreach (var p in text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            var ends = p.Split('-');
            if (ends.Length != 2 || !int.TryParse(ends[0], NumberStyles.None, CultureInfo.InvariantCulture, out int a)
                || !int.TryParse(ends[1], NumberStyles.None, CultureInfo.InvariantCulture, out int b))
                throw new CatalogException($"NVLink pair '{p}' should look like 0-1");
            pairs.Add((a, b));
        }
        if (pairs.Count == 0) throw new CatalogException($"NVLink pairs '{text}' name no pair (expected e.g. 0-1,2-3)");
        return pairs;
    }

    /// <summary>The whole rig: cards, their PCIe path (default: the catalog's for the card), NVLink pairs or an NVSwitch.</summary>
    public static Topology Build(HardwareCatalog catalog, string gpus, string? link = null, string? nvlinkPairs = null, bool nvswitch = false)
    {
        var (count, gpu) = ParseGpus(catalog, gpus);
        if (nvlinkPairs is not null && nvswitch) throw new CatalogException("NVLink pairs and an NVSwitch exclude each other; give one");
        var topology = Topology.Parse(catalog, $"{count}x {gpu.Name}");
        if (link is not null) topology = topology with { Pcie = ResolveLink(catalog, gpu, link) };
        if (nvlinkPairs is not null) topology = topology.WithNvLinkPairs(catalog, ParsePairs(nvlinkPairs));
        if (nvswitch) topology = topology.WithNvSwitch(catalog);
        return topology;
    }

    /// <summary>
    /// Bridges between neighbours (0-1, 2-3, ...): how 2-way bridges are fitted to an even number of
    /// cards. Empty for a single card.
    /// </summary>
    public static IReadOnlyList<(int A, int B)> NeighbourPairs(int count)
        => Enumerable.Range(0, count / 2).Select(i => (2 * i, 2 * i + 1)).ToArray();
}
