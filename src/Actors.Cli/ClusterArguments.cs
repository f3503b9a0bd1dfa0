using Actors.Cluster;
using Actors.Cluster.Configuration;
using Actors.Runtime;
using Actors.Runtime.Configuration;

namespace Actors.Cli;

/// <summary>
/// `actors serve` on Akka.Cluster: --cluster-port, --seed, --role and --hostname, the same keys as the
/// actors-cluster section of a deployment file (the command line wins).
/// </summary>
public static class ClusterArguments
{
    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("cluster-port", "join an Akka.Cluster: this node's Akka.Remote port (default: actors-cluster.port)"),
        new("seed", "cluster seed nodes, HOST:PORT[,HOST:PORT] (default: actors-cluster.seed-nodes; none: form a new cluster)"),
        new("role", "cluster role: gateway (HTTP, routes to workers), worker (runs the model, no HTTP) or both"),
        new("hostname", "address other nodes reach this one at (default: actors-cluster.hostname)"),
    ];

    /// <summary>HOCON of the cluster options given, or null when neither they nor the config ask for a cluster.</summary>
    public static string? Overrides(Arguments a, Akka.Configuration.Config fileConfig)
    {
        bool asked = a.Has("cluster-port") || a.Has("seed") || a.Has("role") || a.Has("hostname") || fileConfig.HasPath(ClusterSettings.Root);
        if (!asked) return null;
        try
        {
            return ClusterSettings.CommandLineOverrides(a.Has("cluster-port") ? a.Int("cluster-port", 0, 65535) : null, a.String("seed"), a.String("role"), a.String("hostname"));
        }
        catch (InvalidConfigurationException ex)
        {
            throw new CliException(ex.Message);
        }
    }

    /// <summary>
    /// Starts this process's cluster node. A gateway node serves HTTP through an <see cref="LlmRuntime"/>
    /// whose requests all go through the cluster gateway (<see cref="LlmRuntime.RouteThrough"/>); on a
    /// gateway-only node that runtime exists only for what the HTTP layer reads (tokenizer, chat template,
    /// limits): it gets no requests, skips the warm-up and keeps one KV block.
    /// </summary>
    public static (ClusterNode Node, LlmRuntime? Runtime) Start(Arguments a, string clusterHocon)
    {
        var probe = RuntimeHost.BuildConfig(a, clusterHocon);
        ClusterSettings settings;
        try
        {
            settings = ClusterSettings.Create(probe);
        }
        catch (InvalidConfigurationException ex)
        {
            throw new CliException(ex.Message);
        }
        string extra = settings.IsWorker ? clusterHocon : clusterHocon + "\nactors-runtime { warm-up = off, kv-cache.num-blocks = 1 }";
        var config = RuntimeHost.BuildConfig(a, extra);
        ClusterNode node;
        try
        {
            node = ClusterNode.Start(config, RuntimeHost.Setup());
        }
        catch (InvalidConfigurationException ex)
        {
            throw new CliException(ex.Message);
        }
        if (!settings.IsGateway) return (node, null);
        var runtime = node.Runtime ?? LlmRuntime.Get(node.System);
        runtime.RouteThrough(node.Gateway!);
        return (node, runtime);
    }
}
