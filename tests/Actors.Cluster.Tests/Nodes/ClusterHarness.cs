using Akka.Actor;
using Akka.Configuration;
using Actors.Inference.Synthetic;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>
/// Several cluster nodes in one process (each its own ActorSystem on a 127.0.0.1 port), with a failure
/// detector and split-brain resolver tuned for seconds, and a single-node runtime of the same model as
/// the reference every cluster output must equal. Every message is serialized (serialize-messages = on),
/// local ones too.
/// </summary>
public sealed class ClusterHarness : IAsyncDisposable
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "actors-cluster-test-models");

    /// <summary>Large enough that a few hundred tokens take a noticeable fraction of a second on one thread (a kill lands mid-stream).</summary>
    public static readonly SyntheticModelSpec Model = new() { Dim = 128, Heads = 4, KvHeads = 2, Ffn = 384, Layers = 6, Vocab = 320, Context = 2048, WeightType = "F32", Seed = 1601 };

    private readonly List<ClusterNode> _nodes = [];

    public static string ModelPath => SyntheticModelGenerator.EnsureCached(Model, CacheDir);

    /// <summary>HOCON of the runtime part (one CPU device of one thread) shared by every node and the reference.</summary>
    public static string RuntimeHocon(int threads = 1) => $$"""
        akka.loglevel = WARNING
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        actors-runtime {
          model.path = "{{ModelPath.Replace("\\", "/")}}"
          devices = [ { id = "cpu:0", kind = cpu, threads = {{threads}} } ]
          kv-cache.num-blocks = 600
          scheduler.max-batched-tokens = 256
          scheduler.max-running-sequences = 16
          warm-up = off
        }
        """;

    /// <summary>
    /// Starts a node; <paramref name="seed"/> null forms a new cluster. A worker may be crashed with
    /// <see cref="Crash"/>: its system stops without leaving the cluster (no coordinated shutdown), as a
    /// kill -9 would, so the others learn it only from the failure detector.
    /// </summary>
    public async Task<ClusterNode> Start(string role, ClusterNode? seed, string extra = "")
    {
        string seeds = seed is null ? "" : $"\"127.0.0.1:{seed.Address.Port}\"";
        var config = ConfigurationFactory.ParseString($$"""
            actors-cluster {
              role = {{role}}
              port = 0
              seed-nodes = [{{seeds}}]
              worker.load-report-interval = 100ms
              gateway.placement-timeout = 3s
            }
            akka.actor.serialize-messages = on
            akka.coordinated-shutdown.run-by-actor-system-terminate = off
            akka.cluster.run-coordinated-shutdown-when-down = off
            akka.cluster.failure-detector { heartbeat-interval = 200ms, acceptable-heartbeat-pause = 1s }
            akka.cluster.split-brain-resolver.stable-after = 2s
            akka.cluster.gossip-interval = 200ms
            akka.cluster.leader-actions-interval = 200ms
            akka.cluster.unreachable-nodes-reaper-interval = 200ms
            {{RuntimeHocon()}}
            {{extra}}
            """);
        var node = ClusterNode.Start(config);
        _nodes.Add(node);
        await node.WhenUp().WaitAsync(TimeSpan.FromSeconds(20));
        return node;
    }

    /// <summary>Stops a node's actor system abruptly: no leaving, the TCP connections just close.</summary>
    public static async Task Crash(ClusterNode node) => await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(20));

    /// <summary>Waits until the gateway routes to <paramref name="workers"/> workers.</summary>
    public static async Task WaitForWorkers(ClusterNode gateway, int workers)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((await gateway.Gateway!.TopologyAsync()).Workers.Length != workers)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the gateway did not see {workers} worker(s) within 20 s");
            await Task.Delay(50);
        }
    }

    /// <summary>Greedy outputs of the same requests on one node without a cluster.</summary>
    public static async Task<GenerationResult[]> Reference(IReadOnlyList<Generate> requests)
    {
        var system = ActorSystem.Create("reference", ConfigurationFactory.ParseString(RuntimeHocon()));
        try
        {
            var runtime = LlmRuntime.Get(system);
            return await Task.WhenAll(requests.Select(r => runtime.GenerateAsync(r)));
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>Greedy requests of random prompts (tokens 3.., no EOS stop) generating exactly <paramref name="maxTokens"/> tokens.</summary>
    public static List<Generate> Requests(int count, int maxTokens, int seed, int promptLength = 24, int[]? sharedPrefix = null)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(i => new Generate
        {
            RequestId = $"q{seed}-{i}",
            PromptTokens = [.. sharedPrefix ?? [], .. Enumerable.Range(0, promptLength).Select(_ => 3 + rng.Next(300))],
            MaxTokens = maxTokens,
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
        }).ToList();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _nodes)
            if (!node.System.WhenTerminated.IsCompleted)
                await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(20));
    }
}
