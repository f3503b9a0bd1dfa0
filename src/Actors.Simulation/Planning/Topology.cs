using System.Globalization;
using Actors.Simulation.Catalog;

namespace Actors.Simulation.Planning;

/// <summary>
/// GPUs of one kind and how they are wired: a PCIe path between any two cards of a node (P2P or
/// staged through host memory), optional NVLink bridges between fixed pairs (RTX 3090: a bridge joins
/// exactly two cards, so 4 cards make two isolated pairs) or an NVSwitch joining all cards of a node,
/// and a network between nodes. Devices are numbered 0..Count−1, node-major.
/// </summary>
public sealed record Topology
{
    public required GpuSpec Gpu { get; init; }
    public required int GpuCount { get; init; }
    public required int GpusPerNode { get; init; }
    public required LinkSpec Pcie { get; init; }
    public LinkSpec? NvLink { get; init; }
    public IReadOnlyList<(int A, int B)> NvLinkPairs { get; init; } = [];
    public bool NvSwitch { get; init; }
    public LinkSpec? Network { get; init; }

    public int Nodes => (GpuCount + GpusPerNode - 1) / GpusPerNode;

    /// <summary>A short human description, e.g. "4x rtx-3090, host-staged-pcie4, rtx3090-nvlink 0-1 2-3".</summary>
    public string Description
    {
        get
        {
            var parts = new List<string> { $"{GpuCount}x {Gpu.Name}", Pcie.Name };
            if (NvSwitch && NvLink is not null) parts.Add($"{NvLink.Name} (all-to-all)");
            else if (NvLinkPairs.Count > 0) parts.Add($"{NvLink!.Name} {string.Join(' ', NvLinkPairs.Select(p => $"{p.A}-{p.B}"))}");
            if (Nodes > 1) parts.Add($"{Nodes} nodes over {Network!.Name}");
            return string.Join(", ", parts);
        }
    }

    public int NodeOf(int device) => device / GpusPerNode;

    /// <summary>The best path between two devices: NVLink &gt; PCIe (P2P or host-staged) &gt; network.</summary>
    public LinkSpec LinkBetween(int a, int b)
    {
        if ((uint)a >= (uint)GpuCount || (uint)b >= (uint)GpuCount)
            throw new ArgumentOutOfRangeException(nameof(a), $"devices {a} and {b}: this topology has {GpuCount}");
        if (a == b) throw new ArgumentException($"device {a} needs no link to itself");
        if (NodeOf(a) != NodeOf(b)) return Network ?? throw new InvalidOperationException("devices on different nodes but no network link");
        if (NvLink is not null && (NvSwitch || NvLinkPairs.Any(p => (p.A == a && p.B == b) || (p.A == b && p.B == a)))) return NvLink;
        return Pcie;
    }

    /// <summary>
    /// The link that bounds a ring over <paramref name="devices"/> (in order, closing back to the first):
    /// the one whose small all-reduce step is slowest. A TP group spanning two NVLink pairs is bounded by PCIe.
    /// </summary>
    public LinkSpec RingBottleneck(IReadOnlyList<int> devices)
    {
        if (devices.Count < 2) throw new ArgumentException("a ring needs at least two devices");
        LinkSpec worst = LinkBetween(devices[0], devices[1]);
        for (int i = 0; i < devices.Count; i++)
        {
            var link = LinkBetween(devices[i], devices[(i + 1) % devices.Count]);
            if (StepCost(link) > StepCost(worst)) worst = link;
        }
        return worst;
        // A 64 KiB step: decode all-reduces are small, so latency weighs in as much as bandwidth.
        static double StepCost(LinkSpec l) => l.LatencySeconds + 65536 / l.EffectiveDuplexBandwidth;
    }

    /// <summary>Two-shot when every pair of the group has a direct NVLink (NVSwitch, or a bridged pair); ring otherwise.</summary>
    public Cost.AllReduceAlgorithm AllReduceFor(IReadOnlyList<int> devices)
    {
        for (int i = 0; i < devices.Count; i++)
            for (int j = i + 1; j < devices.Count; j++)
                if (!ReferenceEquals(LinkBetween(devices[i], devices[j]), NvLink)) return Cost.AllReduceAlgorithm.Ring;
        return devices.Count > 1 && NvLink is not null ? Cost.AllReduceAlgorithm.TwoShot : Cost.AllReduceAlgorithm.Ring;
    }

    /// <summary>
    /// Builds a topology from a short spec, for the CLI and for comparisons:
    /// "4x rtx-3090" (PCIe path from the catalog), "4x rtx-3090 nvlink=0-1,2-3", "4x rtx-3090 pcie=pcie4-x16"
    /// (P2P-patched driver), "8x h100-sxm nvswitch", "16x h100-sxm nvswitch gpus-per-node=8 network=infiniband-ndr".
    /// </summary>
    public static Topology Parse(HardwareCatalog catalog, string spec)
    {
        var tokens = spec.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
        if (tokens.Length == 0) throw new CatalogException("empty topology spec (expected e.g. '4x rtx-3090 nvlink=0-1,2-3')");
        int count;
        string gpuName;
        int next;
        string head = tokens[0].ToLowerInvariant();
        int x = head.IndexOf('x');
        if (x > 0 && int.TryParse(head[..x], NumberStyles.None, CultureInfo.InvariantCulture, out count))
        {
            gpuName = x + 1 < head.Length ? tokens[0][(x + 1)..] : (tokens.Length > 1 ? tokens[1] : throw new CatalogException($"topology '{spec}': no GPU name after '{tokens[0]}'"));
            next = x + 1 < head.Length ? 1 : 2;
        }
        else throw new CatalogException($"topology '{spec}': expected '<count>x <gpu>' first, e.g. '4x rtx-3090'");
        if (count < 1) throw new CatalogException($"topology '{spec}': GPU count must be at least 1");
        var gpu = catalog.Gpu(gpuName);
        var topo = new Topology { Gpu = gpu, GpuCount = count, GpusPerNode = count, Pcie = catalog.Link(gpu.Pcie) };
        for (int i = next; i < tokens.Length; i++)
        {
            string t = tokens[i];
            int eq = t.IndexOf('=');
            string key = eq < 0 ? t : t[..eq], value = eq < 0 ? "" : t[(eq + 1)..];
            topo = key switch
            {
                "pcie" => topo with { Pcie = catalog.Link(value) },
                "nvlink" => topo.WithNvLinkPairs(catalog, ParsePairs(spec, value)),
                "nvswitch" => topo.WithNvSwitch(catalog),
                "gpus-per-node" => topo with { GpusPerNode = ParsePositive(spec, key, value) },
                "network" => topo with { Network = catalog.Link(value) },
                _ => throw new CatalogException($"topology '{spec}': unknown option '{key}' (known: pcie=, nvlink=, nvswitch, gpus-per-node=, network=)"),
            };
        }
        if (topo.Nodes > 1 && topo.Network is null) throw new CatalogException($"topology '{spec}': {topo.Nodes} nodes need network=<link>");
        return topo;
    }

    /// <summary>Adds NVLink bridges between the given pairs (the GPU's own NVLink kind).</summary>
    public Topology WithNvLinkPairs(HardwareCatalog catalog, IReadOnlyList<(int A, int B)> pairs)
    {
        var link = catalog.Link(Gpu.NvLink ?? throw new CatalogException($"{Gpu.Name} has no NVLink (gpus.{Gpu.Name}.nvlink is not set)"));
        var used = new HashSet<int>();
        foreach (var (a, b) in pairs)
        {
            if (a == b || (uint)a >= (uint)GpuCount || (uint)b >= (uint)GpuCount)
                throw new CatalogException($"NVLink pair {a}-{b} is not two distinct devices of 0..{GpuCount - 1}");
            if (NodeOf(a) != NodeOf(b)) throw new CatalogException($"NVLink pair {a}-{b} spans two nodes");
            if (link.PairsOnly && (!used.Add(a) || !used.Add(b)))
                throw new CatalogException($"{link.Name} joins exactly two cards; device {(used.Contains(a) ? a : b)} is in two pairs");
        }
        return this with { NvLink = link, NvLinkPairs = pairs.ToArray(), NvSwitch = false };
    }

    public Topology WithNvSwitch(HardwareCatalog catalog)
    {
        var link = catalog.Link(Gpu.NvLink ?? throw new CatalogException($"{Gpu.Name} has no NVLink (gpus.{Gpu.Name}.nvlink is not set)"));
        if (link.PairsOnly) throw new CatalogException($"{link.Name} is a two-card bridge; {Gpu.Name} cannot sit on an NVSwitch");
        return this with { NvLink = link, NvSwitch = true, NvLinkPairs = [] };
    }

    private static IReadOnlyList<(int, int)> ParsePairs(string spec, string value)
    {
        var pairs = new List<(int, int)>();
        foreach (var p in value.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var ends = p.Split('-');
            if (ends.Length != 2 || !int.TryParse(ends[0], out int a) || !int.TryParse(ends[1], out int b))
                throw new CatalogException($"topology '{spec}': NVLink pair '{p}' should look like 0-1");
            pairs.Add((a, b));
        }
        if (pairs.Count == 0) throw new CatalogException($"topology '{spec}': nvlink= needs pairs such as 0-1,2-3");
        return pairs;
    }

    private static int ParsePositive(string spec, string key, string value)
        => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
            : throw new CatalogException($"topology '{spec}': {key}={value} is not a positive whole number");
}
