using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Actors.Inference.Cpu;
using Actors.Runtime.Remote;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors stage-host`: serves pipeline stages of another node's replica on this machine's CPU. A runtime
/// places a stage here through a device entry with node = the address this prints; control comes over
/// Akka.Remote, the stage's steps and activations over a TCP data connection to --data-port.
/// </summary>
public sealed class StageHostCommand : ICommand
{
    public string Name => "stage-host";
    public string Summary => "serve pipeline stages of another node's replica on this machine (devices with node = \"akka.tcp://...\" place them here)";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("hostname", "address other nodes reach this one at (Akka.Remote and the data endpoint)", "127.0.0.1"),
        new("port", "Akka.Remote port (control)", "4055"),
        new("data-port", "TCP port of the data connections, 0 = any free port", "0"),
        new("threads", "CPU threads of the device, 0 = all cores", "0"),
        new("system-name", "actor system name (the address's akka.tcp://NAME@...)", "actors"),
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string hostname = a.RequireString("hostname");
        if (!IPAddress.TryParse(hostname, out var address))
            throw new CliException($"option '--hostname' must be an IP address the data endpoint can bind, got '{hostname}'");
        int port = a.Int("port", 0, 65535), dataPort = a.Int("data-port", 0, 65535);
        var system = ActorSystem.Create(a.RequireString("system-name"), ConfigurationFactory.ParseString($$"""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "{{hostname}}", port = {{port}} }
            akka.loglevel = WARNING
            """));
        using var model = ModelArguments.Open(a);
        using var device = new CpuDevice("cpu:0", a.Int("threads", 0, 4096));
        StageHost host;
        try
        {
            host = StageHost.Start(system, model, device, address, dataPort);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            await system.Terminate();
            throw new CliException($"the data endpoint {hostname}:{dataPort} cannot be opened: {ex.Message}");
        }
        output.WriteLine($"stage host: {((ExtendedActorSystem)system).Provider.DefaultAddress} (data connections on {host.DataEndpoint})");
        output.WriteLine($"place stages here with a device entry: {{ id = \"remote:0\", kind = cpu, node = \"{((ExtendedActorSystem)system).Provider.DefaultAddress}\" }}");
        output.Flush();
        await ServeCommand.WaitForStopSignal(cancel);
        host.Dispose();
        await system.Terminate();
        output.WriteLine("stopped");
        return 0;
    }
}
