using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Configuration;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Bench;

/// <summary>What one cluster benchmark run does.</summary>
/// <param name="RuntimeHocon">The actors-runtime part every worker uses (model, one device, KV).</param>
/// <param name="KillAfter">0: no kill; else the fraction of all tokens streamed after which worker 0 is crashed.</param>
public sealed record ClusterBenchOptions(string RuntimeHocon, int Workers, int Requests, int MaxTokens, int PromptTokens, int Seed, double KillAfter);

/// <summary>One run's figures.</summary>
/// <param name="Lost">Requests that did not end with all their tokens (an error, a rejection, or fewer tokens).</param>
/// <param name="KillToAllResumedMs">From the kill until every stream had a token after it (the killed worker's re-admitted ones are last); NaN without a kill.</param>
/// <param name="LostToFirstResumedMs">The gateway's figure: from noticing the loss to the first re-admitted request's first token.</param>
/// <param name="LostToAllResumedMs">The gateway's figure: from noticing the loss to the last re-admitted request's first token.</param>
public sealed record ClusterBenchResult(int Workers, int Requests, long Tokens, double Seconds, int Lost, long Readmitted,
    double KillToAllResumedMs, double LostToFirstResumedMs, double LostToAllResumedMs)
{
    public double TokensPerSecond => Tokens / Seconds;
    /// <summary>From the kill to the gateway noticing it (failure detector): the kill-to-all figure less the gateway's.</summary>
    public double DetectionMs => KillToAllResumedMs - LostToAllResumedMs;
    /// <summary>From the kill to the first re-admitted token.</summary>
    public double KillToFirstResumedMs => DetectionMs + LostToFirstResumedMs;
}

/// <summary>
/// A gateway and N workers as separate actor systems in this process, on loopback TCP (every request and
/// token crosses Akka.Remote), the same greedy requests submitted at once through the gateway. With
/// <see cref="ClusterBenchOptions.KillAfter"/>, worker 0's actor system is stopped without leaving the
/// cluster mid-run (as a kill -9 would stop its process) and the run counts what was lost.
/// </summary>
public static class ClusterBench
{
    private const string FastFailureDetection = """
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        akka.cluster.run-coordinated-shutdown-when-down = off
        akka.cluster.failure-detector { heartbeat-interval = 200ms, acceptable-heartbeat-pause = 1s }
        akka.cluster.split-brain-resolver.stable-after = 2s
        akka.loglevel = ERROR
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        akka.remote.log-remote-lifecycle-events = off
        """;

    public static async Task<ClusterBenchResult> RunAsync(ClusterBenchOptions o, Action<string>? log = null)
    {
        var nodes = new List<ClusterNode>();
        try
        {
            var gateway = ClusterNode.Start(Node("gateway", null, o.RuntimeHocon));
            nodes.Add(gateway);
            await gateway.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
            for (int i = 0; i < o.Workers; i++)
            {
                var worker = ClusterNode.Start(Node("worker", gateway.Address.Port, o.RuntimeHocon));
                nodes.Add(worker);
                await worker.WhenUp().WaitAsync(TimeSpan.FromSeconds(30));
            }
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await gateway.Gateway!.TopologyAsync()).Workers.Length < o.Workers)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the gateway did not see {o.Workers} workers within 30 s");
                await Task.Delay(20);
            }
            log?.Invoke($"{o.Workers} worker(s) up; {o.Requests} requests x {o.MaxTokens} tokens");

            var rng = new Random(o.Seed);
            var requests = Enumerable.Range(0, o.Requests).Select(i => new Generate
            {
                RequestId = $"bench-{i}",
                PromptTokens = [1, .. Enumerable.Range(0, o.PromptTokens - 1).Select(_ => 3 + rng.Next(250))],
                MaxTokens = o.MaxTokens,
                Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
            }).ToList();
            long total = 0, killedAt = 0;
            long target = (long)(o.KillAfter * o.Requests * o.MaxTokens);
            var killedWorker = o.KillAfter > 0 ? nodes[1] : null;
            var resumedAt = new ConcurrentDictionary<string, long>();
            int killing = 0;
            var clock = Stopwatch.StartNew();

            async Task<bool> Run(Generate r)
            {
                int tokens = 0;
                try
                {
                    await foreach (var chunk in gateway.Gateway!.StreamAsync(r))
                    {
                        tokens += chunk.TokenIds.Length;
                        long now = Stopwatch.GetTimestamp();
                        if (Volatile.Read(ref killedAt) is var k and > 0 && now > k) resumedAt.TryAdd(r.RequestId, now);
                        if (killedWorker is not null && Interlocked.Add(ref total, chunk.TokenIds.Length) >= target && Interlocked.Exchange(ref killing, 1) == 0)
                            await Kill();
                    }
                    return tokens == r.MaxTokens;
                }
                catch (GenerationRejectedException)
                {
                    return false;
                }
            }

            async Task Kill()
            {
                var before = await gateway.Gateway!.TopologyAsync();
                Volatile.Write(ref killedAt, Stopwatch.GetTimestamp());
                await killedWorker!.System.Terminate();
                log?.Invoke($"killed worker {killedWorker.Address} holding {before.Workers.FirstOrDefault(w => w.Address == killedWorker.Address.ToString())?.InFlight ?? 0} request(s)");
            }

            var ok = await Task.WhenAll(requests.Select(r => Task.Run(() => Run(r))));
            double seconds = clock.Elapsed.TotalSeconds;
            var topology = await gateway.Gateway!.TopologyAsync();
            double killToResumed = double.NaN;
            if (killedAt > 0 && !resumedAt.IsEmpty)
            {
                // Streams of the surviving worker resume within a step of the kill; the killed worker's stall until re-admitted.
                killToResumed = resumedAt.Values.Max(t => Stopwatch.GetElapsedTime(killedAt, t).TotalMilliseconds);
            }
            return new ClusterBenchResult(o.Workers, o.Requests, ok.Count(x => x) * (long)o.MaxTokens, seconds, ok.Count(x => !x),
                topology.Readmitted, killToResumed, topology.LastFailoverMs, topology.LastFailoverAllMs);
        }
        finally
        {
            nodes.Reverse(); // workers first: the gateway sees them leave rather than vanish
            foreach (var node in nodes)
                if (!node.System.WhenTerminated.IsCompleted)
                    await node.System.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private static Config Node(string role, int? seedPort, string runtimeHocon) => ConfigurationFactory.ParseString($$"""
        actors-cluster {
          role = {{role}}
          port = 0
          seed-nodes = [{{(seedPort is { } p ? $"\"127.0.0.1:{p}\"" : "")}}]
          worker.load-report-interval = 100ms
        }
        {{FastFailureDetection}}
        {{runtimeHocon}}
        """);
}
