using Actors.Inference.Compute;
using Actors.Runtime.Configuration;
using Actors.Runtime.Transfer;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors topology`: the configured devices, the path the transfer actor picks for every pair (like
/// `nvidia-smi topo -m`), and measured bandwidth and latency per path next to a plain memory-copy
/// benchmark. CUDA devices, when present, are discovered with their NVLink and peer-to-peer state.
/// </summary>
public sealed class TopologyCommand : ICommand
{
    public string Name => "topology";
    public string Summary => "show devices, the chosen path between each pair, and measured bandwidth and latency; with --seed, a cluster's nodes and replicas";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("no-measure", "skip the copy measurements", IsFlag: true),
        new("seed", "a gateway node of a cluster, HOST:PORT: list the cluster's nodes, workers, replicas and load instead"),
        new("cluster-name", "the cluster's actor system name (actors-cluster.system-name)", "actors"),
        .. RuntimeHost.Options,
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        if (a.String("seed") is { } seed)
        {
            Actors.Cluster.Protocol.ClusterTopology cluster;
            try
            {
                var gateway = Actors.Cluster.Configuration.ClusterSettings.ParseSeed(seed, "--seed");
                cluster = await Actors.Cluster.ClusterTopologyClient.QueryAsync(gateway, a.RequireString("cluster-name"), TimeSpan.FromSeconds(10));
            }
            catch (Exception ex) when (ex is InvalidConfigurationException or TimeoutException)
            {
                throw new CliException(ex.Message);
            }
            foreach (var line in Actors.Cluster.ClusterTopologyClient.Describe(cluster)) output.WriteLine(line);
            return 0;
        }
        var config = RuntimeHost.BuildConfig(a, null);
        var settings = RuntimeSettings.Create(config);
        var devices = settings.Devices.Select(d => new TopologyDevice(d.Id, d.Kind, d.Node.Length > 0 ? d.Node : "local")).ToList();
        var links = settings.Transfer.Links.Select(l => new TopologyLink(l.From, l.To, l.Kind switch
        {
            "nvlink" => PathKind.NvLink,
            "pcie-p2p" => PathKind.PciePeer,
            "host-staged" => PathKind.HostStaged,
            "network" => PathKind.Network,
            _ => PathKind.HostMemory,
        }, l.Bandwidth, l.Latency.TotalSeconds));
        CopyMeasurement? measured = null;
        double plain = 0;
        if (!a.Flag("no-measure") && devices.Any(d => d.Kind == DeviceKind.Cpu))
        {
            measured = HostCopyEngine.Measure();
            plain = HostCopyEngine.PlainCopyBandwidth();
        }
        var topology = new Topology(devices, links, new PathDefaults(HostMemoryBytesPerSecond: measured?.BytesPerSecond ?? settings.Transfer.HostCopyBandwidth,
            HostMemoryLatency: measured?.LatencySeconds ?? 1e-6));

        output.WriteLine("devices:");
        foreach (var d in settings.Devices)
            output.WriteLine($"  {d.Id,-10} {d.Kind.ToString().ToLowerInvariant(),-10} {(d.Kind == DeviceKind.Cpu ? (d.Threads == 0 ? "all cores" : $"{d.Threads} threads") : d.Spec)}" +
                (d.Node.Length > 0 ? $"  on {d.Node}" : ""));
        foreach (var line in CudaDiscovery.Describe()) output.WriteLine(line);
        output.WriteLine();
        output.WriteLine("paths (X same device, NVL NVLink, P2P PCIe peer-to-peer, HOST host-staged, MEM host memory, NET network):");
        int w = Math.Max(8, devices.Max(d => d.Id.Length) + 2);
        output.WriteLine(new string(' ', w) + string.Concat(devices.Select(d => d.Id.PadLeft(w))));
        foreach (var from in devices)
            output.WriteLine(from.Id.PadRight(w) + string.Concat(devices.Select(to => Topology.Label(topology.Choose(from.Id, to.Id).Kind).PadLeft(w))));
        output.WriteLine();
        output.WriteLine($"{"path",-12}{"bandwidth",14}{"latency",12}  source");
        foreach (var kind in topology.AllPaths().Where(p => p.Kind != PathKind.SameDevice).GroupBy(p => p.Kind))
        {
            var p = kind.First();
            string source = kind.Key == PathKind.HostMemory && measured != null ? "measured (64 MiB copy, 16 KiB ping)" : links.Any(l => l.Kind == kind.Key) ? "declared in config" : "default";
            output.WriteLine($"{kind.Key,-12}{p.BytesPerSecond / 1e9,11:F2} GB/s{p.LatencySeconds * 1e6,9:F1} µs  {source}");
        }
        var nodes = settings.Devices.Where(d => d.Node.Length > 0).Select(d => d.Node).Distinct().ToList();
        if (nodes.Count > 0 && !a.Flag("no-measure"))
        {
            output.WriteLine();
            foreach (var (node, line) in MeasureNetwork(nodes, settings.Transfer.NetworkTimeout))
                output.WriteLine($"network to {node}: {line}");
        }
        if (measured != null)
        {
            output.WriteLine();
            output.WriteLine($"host memory: copy engine {measured.BytesPerSecond / 1e9:F2} GB/s vs plain memory-copy benchmark {plain / 1e9:F2} GB/s ({measured.BytesPerSecond / plain:P0})");
        }
        return 0;
    }

    /// <summary>
    /// Each remote node's data connection, measured with small and large echoes through its stage host (the
    /// path a remote stage's steps take), as the shared link model: latency + bytes / bandwidth.
    /// </summary>
    private static IEnumerable<(string Node, string Line)> MeasureNetwork(IReadOnlyList<string> nodes, TimeSpan timeout)
    {
        var system = Akka.Actor.ActorSystem.Create("actors-topology", Akka.Configuration.ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = ERROR
            """));
        try
        {
            var lines = new List<(string, string)>();
            foreach (var node in nodes)
            {
                try
                {
                    var link = Actors.Runtime.Remote.RemoteComputeDevice.MeasureNode(system, node, timeout);
                    lines.Add((node, $"{link.BytesPerSecond / 1e9:F2} GB/s, {link.LatencySeconds * 1e6:F1} µs one way (measured on a data connection: median of 64 B and 4 MiB echoes)"));
                }
                catch (Exception ex) when (ex is InvalidConfigurationException or IOException)
                {
                    lines.Add((node, $"not measured: {ex.Message}"));
                }
            }
            return lines;
        }
        finally
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
        }
    }
}
