using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Actors.Cli;
using Actors.Cli.Commands;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Runtime.Remote;

namespace Actors.Cli.Tests;

/// <summary>`actors topology` with a device on another node: the network path, and the data connection measured through the node's stage host.</summary>
public sealed class TopologyCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("actors-topology-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private async Task<string> Topology(string devices)
    {
        string conf = Path.Combine(_dir, "two-nodes.conf");
        File.WriteAllText(conf, $"actors-runtime {{ devices = [ {devices} ], transfer.network-timeout = 3s }}");
        var command = new TopologyCommand();
        var writer = new StringWriter();
        Assert.Equal(0, await command.RunAsync(new Arguments(command.Name, ["--config", conf], command.Options), writer, CancellationToken.None));
        return writer.ToString();
    }

    [Fact]
    public async Task A_device_on_another_node_gets_a_network_path_and_its_data_connection_is_measured()
    {
        var node = ActorSystem.Create("stage-node", ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = ERROR
            """));
        try
        {
            using var model = LlamaModel.Open(DefaultModel.EnsurePath());
            using var device = new CpuDevice("cpu:0", 1);
            StageHost.Start(node, model, device, IPAddress.Loopback);
            string address = ((ExtendedActorSystem)node).Provider.DefaultAddress.ToString();
            var text = await Topology($"{{ id = \"cpu:0\", kind = cpu, threads = 1 }}, {{ id = \"cpu:1\", kind = cpu, threads = 1, node = \"{address}\" }}");
            Assert.Contains($"on {address}", text);
            Assert.Matches(@"cpu:0\s+X\s+NET", text);
            Assert.Matches($@"network to {System.Text.RegularExpressions.Regex.Escape(address)}: [0-9.]+ GB/s, [0-9.]+ µs one way", text);
        }
        finally
        {
            await node.Terminate();
        }
    }

    [Fact]
    public async Task A_node_without_a_stage_host_is_reported_not_measured_naming_it()
    {
        var text = await Topology("{ id = \"cpu:0\", kind = cpu, threads = 1 }, { id = \"cpu:1\", kind = cpu, threads = 1, node = \"akka.tcp://actors@127.0.0.1:9\" }");
        Assert.Contains("network to akka.tcp://actors@127.0.0.1:9: not measured: the stage host at akka.tcp://actors@127.0.0.1:9/user/llm-stage-host did not answer within 3 s", text);
    }
}
