using System.Globalization;
using Actors.Cluster.Bench;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors cluster-bench`: a gateway and N workers (one CPU device each) as actor systems of this process on
/// loopback, the same load through the gateway for each worker count side by side; --kill-after crashes a
/// worker mid-run and reports the failover time and the requests lost.
/// </summary>
public sealed class ClusterBenchCommand : ICommand
{
    public string Name => "cluster-bench";
    public string Summary => "measure a loopback cluster: aggregate tokens/s per worker count, failover time and lost requests when a worker dies";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("workers", "worker counts to compare, e.g. 1,2", "1,2"),
        new("threads", "CPU threads per worker", "1"),
        new("requests", "requests, all submitted at once", "32"),
        new("max-tokens", "tokens generated per request (greedy, EOS ignored)", "64"),
        new("prompt-tokens", "prompt length in tokens", "32"),
        new("kill-after", "crash worker 0 after this fraction of all tokens (0 = never)", "0"),
        new("kv-blocks", "KV blocks per worker (a survivor needs room for the re-admitted requests too)", "2048"),
        new("seed", "seed of the random prompts", "1"),
        new("data-path", "instead: MiB moved between two nodes over Akka.Remote and over a dedicated TCP connection, with ping times"),
        new("cross-node-pipeline", "instead: one replica's two stages on two CPU devices of one node, then on two nodes (loopback): transfer time per step, network share, the link model's prediction", IsFlag: true),
        new("top-k-sampling", "with --cross-node-pipeline: on or off, the last stage returns each row's best token (8 bytes) instead of its logits", "on"),
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        if (a.Has("data-path"))
        {
            output.WriteLine($"{"bulk path",-46}{"MB/s",9}{"ping p50",10}{"p99",9}{"max",9}{"unreachable",13}");
            foreach (var p in await DataPathProbe.RunAsync(a.Int("data-path", 1, 65536)))
                output.WriteLine($"{p.Name,-46}{(p.MegabytesPerSecond == 0 ? "-" : p.MegabytesPerSecond.ToString("F0", CultureInfo.InvariantCulture)),9}{p.PingP50Ms,8:F2}ms{p.PingP99Ms,7:F2}ms{p.PingMaxMs,7:F1}ms{p.Unreachable,13}");
            return 0;
        }
        if (a.Flag("cross-node-pipeline"))
        {
            string path = a.Has("model") ? ModelArguments.ResolvePath(a) : Actors.Inference.Synthetic.DefaultModel.EnsurePath();
            var runs = await CrossNodePipelineBench.RunAsync(new CrossNodePipelineOptions(path, a.Int("threads", 1, 1024), a.Int("requests", 1), a.Int("max-tokens", 1),
                a.Int("prompt-tokens", 2), a.Int("seed"), a.RequireString("top-k-sampling") switch
                {
                    "on" => true,
                    "off" => false,
                    var v => throw new CliException($"option '--top-k-sampling' must be on or off, got '{v}'"),
                }));
            output.WriteLine($"{"pipeline",-38}{"tokens/s",9}{"steps",7}{"step ms",9}{"bytes/step",12}{"xfer ms/step",14}{"predicted",11}{"share",8}{"same tokens",13}");
            foreach (var r in runs)
                output.WriteLine($"{r.Name,-38}{r.TokensPerSecond,9:F1}{r.Steps,7}{r.StepMs,9:F3}{r.BoundaryBytes / Math.Max(1, r.Steps),12:N0}{r.TransferMsPerStep,14:F4}" +
                    $"{(double.IsNaN(r.PredictedMsPerStep) ? "-" : r.PredictedMsPerStep.ToString("F4", CultureInfo.InvariantCulture)),11}{r.NetworkShare,8:P1}{(r.SameTokensAsFirst ? "yes" : "NO"),13}");
            foreach (var r in runs.Where(r => r.Link is not null))
                output.WriteLine($"data connection measured at start-up: {r.Link!.Value.BytesPerSecond / 1e9:F2} GB/s, {r.Link.Value.LatencySeconds * 1e6:F1} µs one way " +
                    $"(latency + bytes / bandwidth, the model the planner costs its links with); activations were {(double)r.ActivationBytes / r.BoundaryBytes:P0} of the bytes moved");
            foreach (var r in runs.Where(r => r.Link is not null))
                foreach (var name in new[] { "ethernet-10g", "ethernet-100g" })
                {
                    var link = Actors.Simulation.Catalog.HardwareCatalog.Default.Link(name);
                    double ms = 1e3 * link.Model.Predict(r.BoundaryBytes, r.Transfers) / Math.Max(1, r.Steps);
                    output.WriteLine($"the planner's {name} ({link.EffectiveBandwidth / 1e9:F2} GB/s, {link.LatencySeconds * 1e6:F0} µs) for the same bytes: {ms:F4} ms per step");
                }
            return 0;
        }
        var counts = a.IntList("workers") ?? [1, 2];
        if (counts.Any(c => c < 1)) throw new CliException("option '--workers': every count must be at least 1");
        double killAfter = a.Double("kill-after", 0, 0.99);
        if (killAfter > 0 && counts.Any(c => c < 2)) throw new CliException("option '--kill-after' needs at least 2 workers in every run (one must survive)");
        string model = a.Has("model") ? $"model.path = \"{ModelArguments.ResolvePath(a).Replace("\\", "/")}\"" : "";
        string runtime = $$"""
            actors-runtime {
              {{model}}
              devices = [ { id = "cpu:0", kind = cpu, threads = {{a.Int("threads", 1, 1024)}} } ]
              kv-cache.num-blocks = {{a.Int("kv-blocks", 1)}}
              scheduler.max-running-sequences = 256
            }
            """;
        output.WriteLine($"{"workers",8}{"requests",10}{"tokens",9}{"seconds",9}{"tokens/s",10}{"vs first",9}{"lost",6}{"re-admitted",13}{"detected",10}{"kill→first",12}{"kill→all",10}");
        double first = 0;
        foreach (int n in counts)
        {
            var result = await ClusterBench.RunAsync(new ClusterBenchOptions(runtime, n, a.Int("requests", 1), a.Int("max-tokens", 1), a.Int("prompt-tokens", 2), a.Int("seed"), killAfter));
            if (first == 0) first = result.TokensPerSecond;
            string Ms(double v) => double.IsNaN(v) ? "-" : v.ToString("F0", CultureInfo.InvariantCulture) + " ms";
            output.WriteLine($"{n,8}{result.Requests,10}{result.Tokens,9}{result.Seconds,9:F2}{result.TokensPerSecond,10:F1}{result.TokensPerSecond / first,8:F2}x{result.Lost,6}{result.Readmitted,13}{Ms(result.DetectionMs),10}{Ms(result.KillToFirstResumedMs),12}{Ms(result.KillToAllResumedMs),10}");
            output.Flush();
        }
        return 0;
    }
}
