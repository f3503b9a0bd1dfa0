using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Actors.Cluster.Configuration;
using Actors.Cluster.Internal;
using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using Actors.Runtime;
using Actors.Runtime.Configuration;

namespace Actors.Cluster;

/// <summary>
/// One node of an Actors cluster: an actor system on Akka.Cluster with the roles of actors-cluster.role.
/// A worker opens the runtime (actors-runtime: the model, its replicas on this node's devices) and its
/// <c>llm-worker</c> agent; a gateway starts the <c>llm-gateway</c> actor (and reads the model's tokenizer,
/// to route and resume prompts as tokens). The node joins the seed nodes only once all of that is loaded,
/// so a worker that becomes a member can take requests at once.
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private ClusterNode(ActorSystem system, ClusterSettings settings, LlmRuntime? runtime, ClusterGateway? gateway)
    {
        System = system;
        Settings = settings;
        Runtime = runtime;
        Gateway = gateway;
    }

    public ActorSystem System { get; }
    public ClusterSettings Settings { get; }
    /// <summary>The node's runtime when it is a worker; null on a gateway-only node.</summary>
    public LlmRuntime? Runtime { get; }
    /// <summary>The node's gateway when it is one; null on a worker-only node.</summary>
    public ClusterGateway? Gateway { get; }
    public Akka.Cluster.Cluster Cluster => Akka.Cluster.Cluster.Get(System);
    /// <summary>This node's address, e.g. akka.tcp://actors@127.0.0.1:4053.</summary>
    public Address Address => Cluster.SelfAddress;

    /// <summary>
    /// Starts a node from <paramref name="config"/> (actors-cluster and, on a worker, actors-runtime; the
    /// embedded defaults beneath). Bad settings throw <see cref="InvalidConfigurationException"/> naming the key.
    /// </summary>
    public static ClusterNode Start(Config config, RuntimeSetup? setup = null)
    {
        var settings = ClusterSettings.Create(config);
        var full = settings.AkkaConfig().WithFallback(config).WithFallback(ClusterSettings.DefaultConfig()).WithFallback(RuntimeSettings.DefaultConfig());
        var bootstrap = BootstrapSetup.Create().WithConfig(full);
        var systemSetup = setup is null ? ActorSystemSetup.Create(bootstrap) : bootstrap.And(setup);
        var system = ActorSystem.Create(settings.SystemName, systemSetup);
        try
        {
            LlmRuntime? runtime = null;
            if (settings.IsWorker)
            {
                runtime = LlmRuntime.Get(system);
                system.ActorOf(WorkerAgent.Props(runtime, settings.LoadReportInterval), WorkerAgent.Name);
            }
            ClusterGateway? gateway = null;
            if (settings.IsGateway)
            {
                var tokenizer = runtime?.Tokenizer ?? setup?.Tokenizer ?? OpenTokenizer(full, system);
                var requests = (runtime?.Settings ?? RuntimeSettings.Create(full)).Request;
                long frame = full.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size") ?? 128_000;
                gateway = new ClusterGateway(system.ActorOf(GatewayActor.Props(new GatewayContext(tokenizer, requests.DefaultMaxTokens, settings.Gateway, frame)), GatewayActor.Name),
                    requests.StreamBuffer);
            }
            var cluster = Akka.Cluster.Cluster.Get(system);
            var seeds = settings.SeedNodes.Count > 0
                ? settings.SeedNodes.Select(s => Address.Parse(settings.SeedAddress(s))).ToList()
                : [cluster.SelfAddress];
            cluster.JoinSeedNodes(seeds);
            return new ClusterNode(system, settings, runtime, gateway);
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw;
        }
    }

    /// <summary>Completes when this node is an Up member of the cluster.</summary>
    public Task WhenUp()
    {
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Cluster.RegisterOnMemberUp(() => up.TrySetResult());
        return up.Task;
    }

    /// <summary>A gateway without a runtime reads only the tokenizer of the model file (its weights stay unread).</summary>
    private static Tokenizer OpenTokenizer(Config config, ActorSystem system)
    {
        string path = RuntimeSettings.Create(config).Model.Path;
        if (path.Length == 0) path = DefaultModel.EnsurePath();
        if (!File.Exists(path)) throw new InvalidConfigurationException($"actors-runtime.model.path: {path} does not exist (a gateway reads the model's tokenizer from it)");
        var file = GgufFile.Open(path);
        system.RegisterOnTermination(file.Dispose);
        return Tokenizer.FromGguf(file);
    }

    /// <summary>Leaves the cluster gracefully (its requests move to other workers) and stops the actor system.</summary>
    public async ValueTask DisposeAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance).WaitAsync(TimeSpan.FromSeconds(30));
        await System.WhenTerminated.WaitAsync(TimeSpan.FromSeconds(30));
    }
}
