using System.Net;
using Akka.Actor;
using Akka.Configuration;
using Actors.Cluster.Tests.Nodes;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Runtime;
using Actors.Runtime.Protocol;
using Actors.Runtime.Remote;

namespace Actors.Cluster.Tests.Pipelines;

/// <summary>
/// Two actor systems on 127.0.0.1 (Akka.Remote between them, every message serialized): node B runs a
/// stage host on its own CPU device with its own copy of the model; node A's runtime places one replica's
/// two stages on its CPU device and on B's.
/// </summary>
public sealed class TwoNodePipeline : IAsyncDisposable
{
    public ActorSystem B { get; }
    public ActorSystem? A { get; private set; }
    public StageHost Host { get; }
    public string NodeB { get; }
    private readonly LlamaModel _modelB;
    private readonly CpuDevice _deviceB;

    public static Config Remote(string name) => ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
        akka.actor.serialize-messages = on
        akka.loglevel = WARNING
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        akka.remote.log-remote-lifecycle-events = off
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        """);

    public TwoNodePipeline(TimeSpan? hostIoTimeout = null)
    {
        B = ActorSystem.Create("stage-node", Remote("stage-node"));
        _modelB = LlamaModel.Open(ClusterHarness.ModelPath);
        _deviceB = new CpuDevice("cpu:0", 1);
        Host = StageHost.Start(B, _modelB, _deviceB, IPAddress.Loopback, 0, hostIoTimeout);
        NodeB = ((ExtendedActorSystem)B).Provider.DefaultAddress.ToString();
    }

    /// <summary>Runtime HOCON of node A: its cpu:0 and B's device as "cpu:1", in the given pipeline order.</summary>
    public static string RuntimeHocon(string nodeB, bool remoteFirst, string extra = "")
    {
        string local = "{ id = \"cpu:0\", kind = cpu, threads = 1 }";
        string remote = $"{{ id = \"cpu:1\", kind = cpu, threads = 1, node = \"{nodeB}\" }}";
        return $$"""
            actors-runtime {
              model.path = "{{ClusterHarness.ModelPath.Replace("\\", "/")}}"
              devices = [ {{(remoteFirst ? remote + ", " + local : local + ", " + remote)}} ]
              layout.pipeline = 2
              kv-cache.num-blocks = 300
              scheduler.max-batched-tokens = 256
              warm-up = off
              transfer.network-timeout = 3s
            }
            {{extra}}
            """;
    }

    /// <summary>Starts node A's runtime (its start-up opens the remote stage).</summary>
    public LlmRuntime StartRuntime(bool remoteFirst, string extra = "")
    {
        A = ActorSystem.Create("runtime-node", ConfigurationFactory.ParseString(RuntimeHocon(NodeB, remoteFirst, extra)).WithFallback(Remote("runtime-node")));
        return LlmRuntime.Get(A);
    }

    /// <summary>A single-device runtime in a plain actor system: the reference.</summary>
    public static async Task<List<Outcome>> Reference(IReadOnlyList<Generate> requests)
    {
        var system = ActorSystem.Create("reference", ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            actors-runtime {
              model.path = "{{ClusterHarness.ModelPath.Replace("\\", "/")}}"
              devices = [ { id = "cpu:0", kind = cpu, threads = 1 } ]
              kv-cache.num-blocks = 300
              scheduler.max-batched-tokens = 256
              warm-up = off
            }
            """));
        try
        {
            var runtime = LlmRuntime.Get(system);
            return (await Task.WhenAll(requests.Select(r => Run(runtime, r)))).ToList();
        }
        finally
        {
            await system.Terminate();
        }
    }

    public sealed record Outcome(List<int> Tokens, List<float> LogProbs, GenerationCompleted Completed);

    /// <summary>One request to its end: its token ids and log-probabilities, and the final message.</summary>
    public static async Task<Outcome> Run(LlmRuntime runtime, Generate request)
    {
        var (chunks, completion) = runtime.StreamWithCompletion(request);
        var tokens = new List<int>();
        var logprobs = new List<float>();
        await foreach (var c in chunks)
        {
            tokens.AddRange(c.TokenIds);
            if (c.LogProbs is not null) logprobs.AddRange(c.LogProbs);
        }
        return new Outcome(tokens, logprobs, await completion);
    }

    public async ValueTask DisposeAsync()
    {
        if (A is not null) await A.Terminate().WaitAsync(TimeSpan.FromSeconds(20));
        await B.Terminate().WaitAsync(TimeSpan.FromSeconds(20));
        _deviceB.Dispose();
        _modelB.Dispose();
    }
}
