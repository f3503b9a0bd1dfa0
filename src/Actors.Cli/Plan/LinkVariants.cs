using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;

namespace Actors.Cli.Plan;

/// <summary>
/// The interconnects a comparison lines up for one set of cards: PCIe only (the path the user gave),
/// PCIe peer-to-peer when that path is host-staged (what a patched GeForce driver gets), and NVLink —
/// bridges on pairs for cards whose bridge joins two (the user's pairs, or 0-1, 2-3, ...), an NVSwitch
/// for cards that sit on one.
/// </summary>
public static class LinkVariants
{
    public static IReadOnlyList<(string Label, Topology Topology)> For(HardwareCatalog catalog, Topology topology)
    {
        var pcieOnly = topology with { NvLink = null, NvLinkPairs = [], NvSwitch = false };
        var list = new List<(string, Topology)> { (PcieLabel(pcieOnly.Pcie), pcieOnly) };
        if (pcieOnly.Pcie.Name.StartsWith("host-staged-", StringComparison.Ordinal)
            && catalog.Links.TryGetValue(pcieOnly.Pcie.Name["host-staged-".Length..] + "-x16", out var p2p))
            list.Add(("PCIe P2P (patched driver)", pcieOnly with { Pcie = p2p }));
        if (topology.Gpu.NvLink is { } nvName && topology.GpuCount > 1)
        {
            var nv = catalog.Link(nvName);
            if (!nv.PairsOnly) list.Add(("NVSwitch", pcieOnly.WithNvSwitch(catalog)));
            else
            {
                var pairs = topology.NvLinkPairs.Count > 0 ? topology.NvLinkPairs : Rig.NeighbourPairs(topology.GpuCount);
                list.Add(($"NVLink pairs {string.Join(",", pairs.Select(p => $"{p.A}-{p.B}"))}", pcieOnly.WithNvLinkPairs(catalog, pairs)));
            }
        }
        return list;
    }

    public static string PcieLabel(LinkSpec link)
        => link.Name.StartsWith("host-staged", StringComparison.Ordinal) ? "PCIe host-staged"
            : link.Scope == LinkScope.Network ? $"network ({link.Name})"
            : "PCIe P2P";

    /// <summary>A sentence on what the PCIe path means, for the report's rig line.</summary>
    public static string Explain(Topology topology)
        => topology.Pcie.Name.StartsWith("host-staged", StringComparison.Ordinal)
            ? $"{topology.Pcie.Name}: the stock driver gives these cards no PCIe peer-to-peer, so copies are staged through host memory ({topology.Pcie.Bandwidth / 1e9:0.##} GB/s, {topology.Pcie.LatencySeconds * 1e6:0.#} µs; --link {topology.Pcie.Name["host-staged-".Length..]}-p2p for a patched driver)"
            : $"{topology.Pcie.Name}: {topology.Pcie.Bandwidth / 1e9:0.##} GB/s per direction, {topology.Pcie.LatencySeconds * 1e6:0.#} µs";
}
