using Akka.Configuration;
using Actors.Runtime.Configuration;
using Actors.Runtime.Tests.Configuration;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Tests.Transfer;

/// <summary>
/// The transfer actor's choice of path for the deployments users run: a 4x3090 rig without bridges,
/// the same rig with NVLink pairs, an 8-GPU NVSwitch server, PCIe peer-to-peer, two machines, and CPU devices.
/// </summary>
public sealed class TopologyTests
{
    private static Topology FromFile(string file) => Topology.FromSettings(RuntimeSettings.Create(RuntimeSettings.LoadFile(RepositoryConfig.File(file))));

    private static Topology FromHocon(string hocon) =>
        Topology.FromSettings(RuntimeSettings.Create(ConfigurationFactory.ParseString(hocon)));

    private static string Gpus(int n) =>
        "actors-runtime.devices = [ " + string.Join(", ", Enumerable.Range(0, n).Select(i => $"{{ id = \"cuda:{i}\", kind = cuda }}")) + " ]\n";

    [Fact]
    public void Four_3090s_without_bridges_stage_every_copy_through_the_host()
    {
        var t = FromFile("4x3090-pcie.conf");
        foreach (var p in t.AllPaths().Where(p => p.From != p.To))
        {
            Assert.Equal(PathKind.HostStaged, p.Kind);
            Assert.Equal(11e9, p.BytesPerSecond);
        }
        Assert.Equal(PathKind.SameDevice, t.Choose("cuda:2", "cuda:2").Kind);
    }

    [Fact]
    public void NVLink_pairs_use_the_bridge_and_cross_pair_traffic_goes_through_the_host()
    {
        var t = FromFile("4x3090-nvlink.conf");
        foreach (var (a, b) in new[] { ("cuda:0", "cuda:1"), ("cuda:1", "cuda:0"), ("cuda:2", "cuda:3"), ("cuda:3", "cuda:2") })
        {
            var p = t.Choose(a, b);
            Assert.Equal(PathKind.NvLink, p.Kind);
            Assert.Equal(56.25e9, p.BytesPerSecond);
        }
        foreach (var (a, b) in new[] { ("cuda:1", "cuda:2"), ("cuda:0", "cuda:3"), ("cuda:0", "cuda:2"), ("cuda:3", "cuda:1") })
            Assert.Equal(PathKind.HostStaged, t.Choose(a, b).Kind);
        // A decode step's hidden state for a 70B model (8192 floats): the bridge saves microseconds, not milliseconds.
        long bytes = 8192 * 4;
        double saved = t.Choose("cuda:1", "cuda:2").EstimateSeconds(bytes) - t.Choose("cuda:0", "cuda:1").EstimateSeconds(bytes);
        Assert.InRange(saved, 10e-6, 30e-6);
    }

    [Fact]
    public void Eight_GPUs_on_an_NVSwitch_reach_every_peer_over_NVLink()
    {
        var links = from a in Enumerable.Range(0, 8)
                    from b in Enumerable.Range(0, 8)
                    where a < b
                    select $"{{ from = \"cuda:{a}\", to = \"cuda:{b}\", kind = nvlink, bandwidth = 450e9, latency = 3us }}";
        var t = FromHocon(Gpus(8) + "actors-runtime.transfer.links = [ " + string.Join("\n", links) + " ]");
        var paths = t.AllPaths().Where(p => p.From != p.To).ToList();
        Assert.Equal(56, paths.Count);
        Assert.All(paths, p => Assert.Equal(PathKind.NvLink, p.Kind));
        Assert.All(paths, p => Assert.Equal(450e9, p.BytesPerSecond));
    }

    [Fact]
    public void Declared_peer_to_peer_beats_host_staging_and_the_best_declared_link_wins()
    {
        var t = FromHocon(Gpus(2) + """
            actors-runtime.transfer.links = [
              { from = "cuda:0", to = "cuda:1", kind = host-staged, bandwidth = 11e9, latency = 15us }
              { from = "cuda:1", to = "cuda:0", kind = pcie-p2p, bandwidth = 25e9, latency = 5us }
            ]
            """);
        Assert.Equal(PathKind.PciePeer, t.Choose("cuda:0", "cuda:1").Kind);
        Assert.Equal(PathKind.PciePeer, t.Choose("cuda:1", "cuda:0").Kind);
        Assert.Equal(25e9, t.Choose("cuda:0", "cuda:1").BytesPerSecond);
    }

    [Fact]
    public void Devices_on_two_machines_talk_over_the_declared_network()
    {
        var t = FromHocon(Gpus(4) + """
            actors-runtime.transfer.links = [
              { from = "cuda:0", to = "cuda:1", kind = nvlink, bandwidth = 56.25e9, latency = 2us }
              { from = "cuda:2", to = "cuda:3", kind = nvlink, bandwidth = 56.25e9, latency = 2us }
              { from = "cuda:1", to = "cuda:2", kind = network, bandwidth = 12.5e9, latency = 5us }
            ]
            """);
        var net = t.Choose("cuda:2", "cuda:1");
        Assert.Equal(PathKind.Network, net.Kind);
        Assert.Equal(12.5e9, net.BytesPerSecond);
        Assert.Equal(PathKind.NvLink, t.Choose("cuda:3", "cuda:2").Kind);
    }

    [Fact]
    public void Devices_placed_on_other_nodes_default_to_the_network()
    {
        var t = new Topology(
            [new("cuda:0", Actors.Inference.Compute.DeviceKind.Cuda, "a"), new("cuda:1", Actors.Inference.Compute.DeviceKind.Cuda, "b")],
            [], new PathDefaults(NetworkBytesPerSecond: 3e9));
        var p = t.Choose("cuda:0", "cuda:1");
        Assert.Equal(PathKind.Network, p.Kind);
        Assert.Equal(3e9, p.BytesPerSecond);
    }

    [Fact]
    public void CPU_devices_copy_host_memory()
    {
        var t = FromFile("cpu-pipeline-2x2.conf");
        Assert.All(t.AllPaths().Where(p => p.From != p.To), p => Assert.Equal(PathKind.HostMemory, p.Kind));
    }

    [Fact]
    public void Swapped_KV_goes_over_host_memory_from_a_CPU_and_through_pinned_memory_from_a_GPU()
    {
        var t = new Topology(
            [new("cpu:0", Actors.Inference.Compute.DeviceKind.Cpu), new("cuda:0", Actors.Inference.Compute.DeviceKind.Cuda)],
            [], new PathDefaults(HostMemoryBytesPerSecond: 20e9, HostStagedBytesPerSecond: 11e9));
        Assert.Equal((PathKind.HostMemory, 20e9), (t.HostPath("cpu:0").Kind, t.HostPath("cpu:0").BytesPerSecond));
        Assert.Equal((PathKind.HostStaged, 11e9), (t.HostPath("cuda:0").Kind, t.HostPath("cuda:0").BytesPerSecond));
        Assert.Throws<ArgumentException>(() => t.HostPath("cuda:9"));
    }

    [Fact]
    public void A_link_to_an_unknown_device_is_named()
    {
        var ex = Assert.ThrowsAny<Exception>(() => FromHocon(Gpus(2) +
            "actors-runtime.transfer.links = [ { from = \"cuda:0\", to = \"cuda:7\", kind = nvlink, bandwidth = 56e9, latency = 2us } ]"));
        Assert.Contains("cuda:7", ex.Message);
    }
}
