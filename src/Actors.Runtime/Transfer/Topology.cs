using Actors.Inference.Compute;

namespace Actors.Runtime.Transfer;

/// <summary>How bytes get from one device to another, best first.</summary>
public enum PathKind
{
    /// <summary>Source and destination are the same device: nothing moves.</summary>
    SameDevice = 0,
    /// <summary>NVLink (a bridge pair or an NVSwitch fabric).</summary>
    NvLink = 1,
    /// <summary>PCIe peer-to-peer DMA between GPUs (not on stock GeForce drivers).</summary>
    PciePeer = 2,
    /// <summary>Through pinned host memory: device → host → device, two PCIe hops.</summary>
    HostStaged = 3,
    /// <summary>Host memory to host memory (CPU devices on one machine).</summary>
    HostMemory = 4,
    /// <summary>Between machines (Ethernet, InfiniBand).</summary>
    Network = 5,
}

/// <summary>A device in the topology; <see cref="Node"/> names the machine it is in.</summary>
public sealed record TopologyDevice(string Id, DeviceKind Kind, string Node = "local");

/// <summary>A declared or discovered link between two devices (both directions).</summary>
public sealed record TopologyLink(string A, string B, PathKind Kind, double BytesPerSecond, double LatencySeconds);

/// <summary>The chosen path for one ordered pair, with the figures used to cost it.</summary>
public sealed record TransferPath(string From, string To, PathKind Kind, double BytesPerSecond, double LatencySeconds, bool Measured = false)
{
    /// <summary>The shared link model of this path's figures.</summary>
    public LinkModel Model => new(BytesPerSecond, LatencySeconds);

    /// <summary>Latency plus bytes over bandwidth (<see cref="LinkModel"/>).</summary>
    public double EstimateSeconds(long bytes) => Kind == PathKind.SameDevice ? 0 : Model.Seconds(bytes);
}

/// <summary>Fallback figures for paths nobody declared or measured.</summary>
public sealed record PathDefaults(
    double HostMemoryBytesPerSecond = 10e9, double HostMemoryLatency = 1e-6,
    double HostStagedBytesPerSecond = 11e9, double HostStagedLatency = 15e-6,
    double NetworkBytesPerSecond = 1.25e9, double NetworkLatency = 50e-6);

/// <summary>
/// Devices and links, and the choice of path for each pair: NVLink, else PCIe peer-to-peer where the
/// pair supports it, else host-staged through pinned memory (GPUs) or a host copy (CPU devices), and
/// a network path between machines. Pure and immutable.
/// </summary>
public sealed class Topology
{
    private readonly Dictionary<string, TopologyDevice> _devices;
    private readonly Dictionary<(string, string), TopologyLink> _links = new();
    private readonly PathDefaults _defaults;

    public IReadOnlyList<TopologyDevice> Devices { get; }
    public IReadOnlyCollection<TopologyLink> Links => _links.Values;

    public Topology(IEnumerable<TopologyDevice> devices, IEnumerable<TopologyLink> links, PathDefaults? defaults = null)
    {
        Devices = devices.ToList();
        _devices = Devices.ToDictionary(d => d.Id);
        _defaults = defaults ?? new PathDefaults();
        foreach (var l in links)
        {
            if (!_devices.ContainsKey(l.A)) throw new ArgumentException($"link {l.A}-{l.B}: unknown device '{l.A}' (known: {string.Join(", ", _devices.Keys)})");
            if (!_devices.ContainsKey(l.B)) throw new ArgumentException($"link {l.A}-{l.B}: unknown device '{l.B}' (known: {string.Join(", ", _devices.Keys)})");
            if (!(l.BytesPerSecond > 0)) throw new ArgumentException($"link {l.A}-{l.B}: bandwidth must be positive, got {l.BytesPerSecond}");
            // Keep the best declared link per pair (lower PathKind is better).
            foreach (var key in new[] { (l.A, l.B), (l.B, l.A) })
                if (!_links.TryGetValue(key, out var existing) || l.Kind < existing.Kind) _links[key] = l;
        }
    }

    public TopologyDevice Device(string id) =>
        _devices.TryGetValue(id, out var d) ? d : throw new ArgumentException($"unknown device '{id}' (known: {string.Join(", ", _devices.Keys)})");

    public TransferPath Choose(string from, string to)
    {
        var a = Device(from);
        var b = Device(to);
        if (from == to) return new TransferPath(from, to, PathKind.SameDevice, double.PositiveInfinity, 0);
        if (a.Node != b.Node)
        {
            var net = _links.GetValueOrDefault((from, to));
            return net is { Kind: PathKind.Network }
                ? new TransferPath(from, to, PathKind.Network, net.BytesPerSecond, net.LatencySeconds)
                : new TransferPath(from, to, PathKind.Network, _defaults.NetworkBytesPerSecond, _defaults.NetworkLatency);
        }
        if (_links.TryGetValue((from, to), out var link))
            return new TransferPath(from, to, link.Kind, link.BytesPerSecond, link.LatencySeconds);
        bool bothHost = a.Kind == DeviceKind.Cpu && b.Kind == DeviceKind.Cpu;
        return bothHost
            ? new TransferPath(from, to, PathKind.HostMemory, _defaults.HostMemoryBytesPerSecond, _defaults.HostMemoryLatency)
            : new TransferPath(from, to, PathKind.HostStaged, _defaults.HostStagedBytesPerSecond, _defaults.HostStagedLatency);
    }

    /// <summary>
    /// A network path whose one end is not a device but this process's host (a remote first stage's tokens
    /// from the scheduler, a remote last stage's logits to the sampler): the declared network figures of
    /// any link of the remote device, else the defaults.
    /// </summary>
    public TransferPath NetworkPath(string from, string to)
    {
        string device = _devices.ContainsKey(from) ? from : to;
        var link = _links.Values.FirstOrDefault(l => l.Kind == PathKind.Network && (l.A == device || l.B == device));
        return link is not null
            ? new TransferPath(from, to, PathKind.Network, link.BytesPerSecond, link.LatencySeconds)
            : new TransferPath(from, to, PathKind.Network, _defaults.NetworkBytesPerSecond, _defaults.NetworkLatency);
    }

    /// <summary>
    /// The path between a device and host memory (swap-out and swap-in of KV blocks): a host copy for a
    /// CPU device, one PCIe hop through pinned memory for a GPU (costed with the host-staged figures,
    /// which is conservative).
    /// </summary>
    public TransferPath HostPath(string device) => Device(device).Kind == DeviceKind.Cpu
        ? new TransferPath(device, "host", PathKind.HostMemory, _defaults.HostMemoryBytesPerSecond, _defaults.HostMemoryLatency)
        : new TransferPath(device, "host", PathKind.HostStaged, _defaults.HostStagedBytesPerSecond, _defaults.HostStagedLatency);

    /// <summary>
    /// The topology a deployment declares: its links, and its devices by configured kind unless
    /// <paramref name="devices"/> gives the ones actually opened (a CUDA device may have fallen back to the CPU).
    /// </summary>
    public static Topology FromSettings(Configuration.RuntimeSettings settings, IEnumerable<TopologyDevice>? devices = null) => new(
        devices ?? settings.Devices.Select(d => new TopologyDevice(d.Id, d.Kind, d.Node.Length > 0 ? d.Node : "local")),
        settings.Transfer.Links.Select(l => new TopologyLink(l.From, l.To, ParseKind(l.Kind), l.Bandwidth, l.Latency.TotalSeconds)),
        new PathDefaults(HostMemoryBytesPerSecond: settings.Transfer.HostCopyBandwidth));

    /// <summary>The HOCON spelling of a link kind (validated by the settings).</summary>
    public static PathKind ParseKind(string kind) => kind switch
    {
        "nvlink" => PathKind.NvLink,
        "pcie-p2p" => PathKind.PciePeer,
        "host-staged" => PathKind.HostStaged,
        "network" => PathKind.Network,
        _ => PathKind.HostMemory,
    };

    /// <summary>Every ordered pair's path, for the `actors topology` matrix.</summary>
    public IEnumerable<TransferPath> AllPaths() =>
        from a in Devices from b in Devices select Choose(a.Id, b.Id);

    /// <summary>Short matrix label of a path, like nvidia-smi topo -m.</summary>
    public static string Label(PathKind kind) => kind switch
    {
        PathKind.SameDevice => "X",
        PathKind.NvLink => "NVL",
        PathKind.PciePeer => "P2P",
        PathKind.HostStaged => "HOST",
        PathKind.HostMemory => "MEM",
        PathKind.Network => "NET",
        _ => "?",
    };
}
