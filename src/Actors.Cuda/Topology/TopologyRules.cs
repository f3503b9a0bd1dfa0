using Actors.Interop.Cuda;

namespace Actors.Cuda.Topology;

/// <summary>How bytes get from one GPU to another, best first.</summary>
public enum TransferPath
{
    /// <summary>Peer access over NVLink (a bridge or an NVSwitch).</summary>
    NvLink,
    /// <summary>Peer access over PCIe.</summary>
    PciePeer,
    /// <summary>Device → pinned host memory → device.</summary>
    HostStaged,
}

/// <summary>The device-independent decisions of topology discovery (pure, unit-tested).</summary>
public static class TopologyRules
{
    /// <summary>
    /// For each CUDA ordinal, the NVML index of the device at the same PCI domain/bus/device, or null.
    /// Matching is numeric: NVML's index order may differ from CUDA's ("fastest first" by default),
    /// and the two APIs format bus-id strings with different domain widths.
    /// </summary>
    public static int?[] MatchNvmlToCuda(IReadOnlyList<PciAddress> cuda, IReadOnlyList<PciAddress> nvml)
    {
        var result = new int?[cuda.Count];
        for (int c = 0; c < cuda.Count; c++)
        {
            for (int n = 0; n < nvml.Count; n++)
            {
                if (nvml[n] != cuda[c]) continue;
                if (result[c] != null)
                    throw new InvalidOperationException($"two NVML devices ({result[c]} and {n}) report PCI address {cuda[c]}");
                result[c] = n;
            }
        }
        return result;
    }

    /// <summary>Active NVLinks of a device whose far end is the GPU at <paramref name="peer"/> (bridged pairs; 0 behind an NVSwitch).</summary>
    public static int DirectNvLinks(IReadOnlyList<NvmlNvLink> links, PciAddress peer) =>
        links.Count(l => l.RemoteType == NvmlNvLinkDeviceType.Gpu && l.Remote == peer);

    /// <summary>Whether a device reaches NVLink peers through an NVSwitch (every remote end is a switch).</summary>
    public static bool BehindNvSwitch(IReadOnlyList<NvmlNvLink> links) => links.Any(l => l.RemoteType == NvmlNvLinkDeviceType.Switch);

    /// <summary>
    /// The path to use: peer access only when a real test copy succeeded (a granted capability can be
    /// false on GeForce boards); NVLink when NVML says P2P goes over NVLink or a link ends at the peer.
    /// </summary>
    public static TransferPath ChoosePath(bool peerVerified, NvmlP2PStatus? nvlinkP2P, int directNvLinks, bool bothBehindNvSwitch)
    {
        if (!peerVerified) return TransferPath.HostStaged;
        return nvlinkP2P == NvmlP2PStatus.Ok || directNvLinks > 0 || bothBehindNvSwitch ? TransferPath.NvLink : TransferPath.PciePeer;
    }
}
