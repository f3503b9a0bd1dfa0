using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Runtime;
using Actors.Runtime.Configuration;
using Actors.Runtime.Protocol;
using Actors.Runtime.Remote;
using Actors.Runtime.Transfer;

namespace Actors.Cluster.Bench;

/// <summary>What one cross-node pipeline benchmark runs: a model, CPU threads per stage, and a greedy load.</summary>
/// <param name="TopKSampling">actors-runtime.top-k-sampling: the last stage returns each row's best token instead of its logits.</param>
public sealed record CrossNodePipelineOptions(string ModelPath, int Threads, int Requests, int MaxTokens, int PromptTokens, int Seed, bool TopKSampling = true);

/// <summary>
/// One pipeline run: tokens and wall time; the steps that crossed the stage boundary and what moved between
/// the stages (bytes, transfers, the accounting's seconds); for the cross-node run the link model measured on
/// the data connection and its prediction for those bytes.
/// </summary>
public sealed record PipelineRunFigures(string Name, long Tokens, double Seconds, long Steps, long BoundaryBytes, long Transfers, double TransferSeconds,
    long ActivationBytes, LinkModel? Link, bool SameTokensAsFirst)
{
    public double TokensPerSecond => Tokens / Seconds;
    public double StepMs => 1e3 * Seconds / Math.Max(1, Steps);
    public double TransferMsPerStep => 1e3 * TransferSeconds / Math.Max(1, Steps);
    /// <summary>The shared link model's time for the bytes and transfers this run moved, per step.</summary>
    public double PredictedMsPerStep => Link is { } l ? 1e3 * l.Predict(BoundaryBytes, Transfers) / Math.Max(1, Steps) : double.NaN;
    /// <summary>Of the run's wall time, the share the stage boundary's transfers took.</summary>
    public double NetworkShare => TransferSeconds / Seconds;
}

/// <summary>
/// One replica of two stages, first on two CPU devices of this process (host-memory copies between them),
/// then with its second stage on a stage host of another actor system on loopback (Akka.Remote for control,
/// the stage's TCP data connection for steps, activations and logits), the same greedy requests each time.
/// </summary>
public static class CrossNodePipelineBench
{
    private static Config Remote(string name) => ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp { hostname = "127.0.0.1", port = 0 }
        akka.loglevel = WARNING
        akka.log-dead-letters = off
        akka.log-dead-letters-during-shutdown = off
        akka.remote.log-remote-lifecycle-events = off
        akka.coordinated-shutdown.run-by-actor-system-terminate = off
        """);

    private static string RuntimeHocon(CrossNodePipelineOptions o, string devices) => $$"""
        akka.loglevel = WARNING
        actors-runtime {
          model.path = "{{o.ModelPath.Replace("\\", "/")}}"
          devices = [ {{devices}} ]
          layout.pipeline = 2
          kv-cache.num-blocks = {{Math.Max(64, o.Requests * ((o.PromptTokens + o.MaxTokens) / 16 + 2))}}
          scheduler.max-running-sequences = 256
          warm-up = off
          top-k-sampling = {{(o.TopKSampling ? "on" : "off")}}
        }
        """;

    public static async Task<IReadOnlyList<PipelineRunFigures>> RunAsync(CrossNodePipelineOptions o)
    {
        var rng = new Random(o.Seed);
        using var probe = LlamaModel.Open(o.ModelPath);
        int vocab = probe.Config.VocabSize, dim = probe.Config.EmbeddingLength;
        List<Generate> Load(string prefix) => Enumerable.Range(0, o.Requests).Select(i => new Generate
        {
            RequestId = $"{prefix}{i}",
            PromptTokens = Enumerable.Range(0, o.PromptTokens).Select(_ => 3 + rng.Next(vocab - 3)).ToArray(),
            MaxTokens = o.MaxTokens,
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
        }).ToList();
        // Each runtime first runs a warm-up load of other prompts (JIT, buffers), untimed and not counted.
        var warmUp = Load("w");
        var requests = Load("x");
        long activationBytes = 4L * dim * requests.Sum(r => r.PromptTokens!.Length + (long)r.MaxTokens!.Value - 1);
        string cpu(int i, string node = "") => $"{{ id = \"cpu:{i}\", kind = cpu, threads = {o.Threads}{(node.Length > 0 ? $", node = \"{node}\"" : "")} }}";

        var figures = new List<PipelineRunFigures>();
        List<int[]>? first = null;
        // One process, two devices.
        {
            var system = ActorSystem.Create("pipeline-local", ConfigurationFactory.ParseString(RuntimeHocon(o, cpu(0) + ", " + cpu(1))));
            try
            {
                var (tokens, seconds, runtime, before) = await Run(system, warmUp, requests, ("cpu:0", "cpu:1"));
                first = tokens;
                var boundary = Minus(runtime.Transfers.ByPair[("cpu:0", "cpu:1")], before[0]);
                figures.Add(new PipelineRunFigures("one node, two CPU devices", tokens.Sum(t => t.Length), seconds, boundary.Count, boundary.Bytes, boundary.Count,
                    boundary.Seconds, activationBytes, null, true));
            }
            finally
            {
                await system.Terminate();
            }
        }
        // Two nodes: the second stage on a stage host.
        {
            var b = ActorSystem.Create("stage-node", Remote("stage-node"));
            using var modelB = LlamaModel.Open(o.ModelPath);
            using var deviceB = new CpuDevice("cpu:0", o.Threads);
            StageHost.Start(b, modelB, deviceB);
            string nodeB = ((ExtendedActorSystem)b).Provider.DefaultAddress.ToString();
            var a = ActorSystem.Create("runtime-node", ConfigurationFactory.ParseString(RuntimeHocon(o, cpu(0) + ", " + cpu(1, nodeB))).WithFallback(Remote("runtime-node")));
            try
            {
                var (tokens, seconds, runtime, before) = await Run(a, warmUp, requests, ("cpu:0", "cpu:1"), ("cpu:1", "local"));
                var into = Minus(runtime.Transfers.ByPair[("cpu:0", "cpu:1")], before[0]);
                var back = Minus(runtime.Transfers.ByPair[("cpu:1", "local")], before[1]);
                bool same = first!.Zip(tokens).All(p => p.First.SequenceEqual(p.Second));
                figures.Add(new PipelineRunFigures("two nodes (loopback data connection)", tokens.Sum(t => t.Length), seconds, into.Count, into.Bytes + back.Bytes,
                    into.Count + back.Count, into.Seconds + back.Seconds, activationBytes, runtime.Transfers.MeasuredLinks["cpu:1"], same));
            }
            finally
            {
                await a.Terminate();
                await b.Terminate();
            }
        }
        return figures;
    }

    private static TransferTotals Minus(TransferTotals now, TransferTotals before) =>
        new() { Bytes = now.Bytes - before.Bytes, Count = now.Count - before.Count, Seconds = now.Seconds - before.Seconds };

    private static async Task<(List<int[]> Tokens, double Seconds, LlmRuntime Runtime, TransferTotals[] Before)> Run(ActorSystem system, IReadOnlyList<Generate> warmUp,
        IReadOnlyList<Generate> requests, params (string, string)[] pairs)
    {
        var runtime = LlmRuntime.Get(system);
        await Task.WhenAll(warmUp.Select(r => runtime.GenerateAsync(r)));
        var before = pairs.Select(p => runtime.Transfers.ByPair.TryGetValue(p, out var t)
            ? new TransferTotals { Bytes = t.Bytes, Count = t.Count, Seconds = t.Seconds } : new TransferTotals()).ToArray();
        var clock = Stopwatch.StartNew();
        var results = await Task.WhenAll(requests.Select(r => runtime.GenerateAsync(r)));
        double seconds = clock.Elapsed.TotalSeconds;
        foreach (var r in results)
            if (r.Completed.Reason != FinishReason.Length) throw new InvalidOperationException($"request {r.Completed.RequestId} ended with {r.Completed.Reason}: {r.Completed.Error}");
        return (results.Select(r => r.TokenIds.ToArray()).ToList(), seconds, runtime, before);
    }
}
