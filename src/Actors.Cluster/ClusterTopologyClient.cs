using System.Globalization;
using Akka.Actor;
using Akka.Configuration;
using Actors.Cluster.Configuration;
using Actors.Cluster.Internal;
using Actors.Cluster.Protocol;
using Actors.Runtime.Configuration;

namespace Actors.Cluster;

/// <summary>
/// Asks a gateway node for the cluster's topology from outside the cluster: a short-lived actor system on
/// plain Akka.Remote (not a member, so it never counts in the split-brain resolver's majority).
/// </summary>
public static class ClusterTopologyClient
{
    public static async Task<ClusterTopology> QueryAsync(SeedNode gateway, string systemName, TimeSpan timeout)
    {
        var config = ConfigurationFactory.ParseString("""
            akka.actor.provider = remote
            akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
            akka.loglevel = ERROR
            akka.log-dead-letters = off
            """).WithFallback(ClusterSettings.DefaultConfig()).WithFallback(RuntimeSettings.DefaultConfig());
        var system = ActorSystem.Create("actors-topology", config);
        try
        {
            var path = $"akka.tcp://{systemName}@{gateway.Host}:{gateway.Port}/user/{GatewayActor.Name}";
            return await system.ActorSelection(path).Ask<ClusterTopology>(GetClusterTopology.Instance, timeout);
        }
        catch (AskTimeoutException)
        {
            throw new TimeoutException($"no gateway answered at {gateway} within {timeout.TotalSeconds:0.#} s (is it a gateway node of cluster '{systemName}'?)");
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static string Ms(double v) => double.IsNaN(v) ? "-" : v.ToString("F0", CultureInfo.InvariantCulture) + " ms";

    /// <summary>The topology as the lines `actors topology` prints: members, then workers with their load.</summary>
    public static IEnumerable<string> Describe(ClusterTopology t)
    {
        yield return $"nodes ({t.Nodes.Length}):";
        foreach (var n in t.Nodes)
            yield return $"  {n.Address,-36} {string.Join("+", n.Roles),-16} {n.Status,-8} {(n.Reachable ? "reachable" : "UNREACHABLE")}";
        yield return "";
        yield return $"workers ({t.Workers.Length}; tokens in: relayed from the worker through this gateway; batches: the messages they came in; rtt: gateway to worker and back over Akka.Remote):";
        yield return $"  {"address",-36} {"model",-16} {"replicas",8} {"devices",-14} {"running",8} {"waiting",8} {"kv used",8} {"in flight",10} {"placed",8} {"tokens in",10} {"batches",8} {"rtt",9}";
        foreach (var w in t.Workers)
        {
            var s = w.Status;
            string kv = s.BlocksTotal > 0 ? ((double)s.BlocksUsed / s.BlocksTotal).ToString("P0", CultureInfo.InvariantCulture) : "-";
            string model = s.Model.Length > 16 ? s.Model[..15] + "…" : s.Model;
            yield return $"  {w.Address,-36} {model,-16} {s.Replicas,8} {s.Devices,-14} {s.Running,8} {s.Waiting,8} {kv,8} {w.InFlight,10} {w.Placed,8} {w.TokensRelayed,10} {w.RelayBatches,8} {(double.IsNaN(w.RoundTripMs) ? "-" : w.RoundTripMs.ToString("F2", CultureInfo.InvariantCulture) + " ms"),9}";
        }
        yield return "";
        yield return $"re-admitted after a lost worker: {t.Readmitted} request(s), {t.ReadmittedTokens} streamed token(s) resumed; " +
            $"last failover: first resumed token {Ms(t.LastFailoverMs)}, all resumed {Ms(t.LastFailoverAllMs)} after the loss was noticed; " +
            $"{t.FailedTerminally} request(s) ended with an error";
    }
}
