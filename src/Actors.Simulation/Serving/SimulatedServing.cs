using System.Diagnostics;
using System.Globalization;
using System.Text;
using Akka.Actor;
using Akka.Configuration;
using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using Actors.Runtime;
using Actors.Runtime.Protocol;
using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;

namespace Actors.Simulation.Serving;

/// <summary>One request of a simulated workload: prompt length, output length, virtual arrival time.</summary>
public sealed record SimulatedRequest(int PromptTokens, int OutputTokens, double ArrivalSeconds);

/// <summary>
/// What a simulated run measured, in virtual time. <see cref="RequestTimings"/> are per request in
/// workload order (queued, first token and every inter-token time), for steady-state analysis.
/// </summary>
public sealed record SimulationResult(
    double VirtualSeconds,
    double WallSeconds,
    long GeneratedTokens,
    long PromptTokens,
    IReadOnlyList<double> TtftMs,
    IReadOnlyList<double> ItlMs,
    double TransferSeconds,
    double DeviceBusySeconds,
    long Preemptions,
    string Layout,
    IReadOnlyList<Timings> RequestTimings)
{
    public double DecodeTokensPerSecond => GeneratedTokens / VirtualSeconds;
    /// <summary>Process CPU seconds during the run (every thread: actors, the simulated devices, the collecting tasks).</summary>
    public double CpuSeconds { get; init; }
    /// <summary>Seconds the simulated stages spent inside their forward passes (bookkeeping and synthetic logits).</summary>
    public double ForwardSeconds { get; init; }
    /// <summary>The runtime's CPU time per generated token outside forward passes, in microseconds.</summary>
    public double RuntimeMicrosecondsPerToken => GeneratedTokens == 0 ? 0 : Math.Max(0, CpuSeconds - ForwardSeconds) * 1e6 / GeneratedTokens;
    public double InterconnectShare => DeviceBusySeconds + TransferSeconds > 0 ? TransferSeconds / (DeviceBusySeconds + TransferSeconds) : 0;
}

/// <summary>
/// Runs a workload through the real actor runtime (router, request, scheduler, device and transfer
/// actors) on simulated GPUs and a virtual clock: every step and copy takes the cost model's time, so
/// an hour of serving takes seconds. Pipeline stages and replicas run as they would on the rig;
/// tensor parallelism is not executed by the runtime and stays in the analytic planner.
/// </summary>
public static class SimulatedServing
{
    public static async Task<SimulationResult> RunAsync(ModelShape model, WeightFormat format, Planning.Topology topology, int pipeline, int replicas,
        IReadOnlyList<SimulatedRequest> workload, int maxBatchedTokens = 2048, int maxRunningSequences = 256, CancellationToken cancel = default,
        bool topKSampling = true)
    {
        int gpus = pipeline * replicas;
        if (gpus > topology.GpuCount)
            throw new ArgumentException($"{replicas} replica(s) x {pipeline} stage(s) need {gpus} GPUs; the topology has {topology.GpuCount}");
        var shape = LlamaModel.ShapeOnly(model.Config, GgmlType.F16, model.Name);
        var tokenizer = VocabularyFor(model.Config.VocabSize);
        var factories = new Dictionary<DeviceKind, DeviceFactory>
        {
            [DeviceKind.Simulated] = o => new SimulatedDevice(o.Id, topology.Gpu) { WeightFormatOverride = format },
        };
        var config = ConfigurationFactory.ParseString(Hocon(model, format, topology, pipeline, replicas, maxBatchedTokens, maxRunningSequences)
            + $"\nactors-runtime.top-k-sampling = {(topKSampling ? "on" : "off")}");
        var setup = new RuntimeSetup { Model = shape, Tokenizer = tokenizer, DeviceFactories = factories };
        var system = ActorSystem.Create("simulation", BootstrapSetup.Create().WithConfig(config).And(setup));
        try
        {
            var runtime = LlmRuntime.Get(system);
            var clock = Stopwatch.StartNew();
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var rng = new DeterministicRandom(42);
            var batch = workload.Select((r, i) =>
            {
                var prompt = new int[r.PromptTokens];
                for (int t = 0; t < prompt.Length; t++) prompt[t] = 3 + rng.NextInt(model.Config.VocabSize - 3);
                var g = new Generate { RequestId = $"sim-{i}", PromptTokens = prompt, MaxTokens = r.OutputTokens, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } };
                return (g, r.ArrivalSeconds);
            }).ToList();
            // One batch: no scheduler starts before every request is on its way, so runs repeat exactly.
            var results = await Task.WhenAll(runtime.GenerateAllAtAsync(batch, cancel));
            double wall = clock.Elapsed.TotalSeconds;
            double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            double end = workload.Select((r, i) => r.ArrivalSeconds + results[i].Completed.Timings.TotalMs / 1000).Max();
            double start = workload.Min(r => r.ArrivalSeconds);
            double busy = 0, forward = 0;
            foreach (var actor in runtime.DeviceActors.Values)
            {
                var stats = await actor.Ask<DeviceStats>(GetDeviceStats.Instance, TimeSpan.FromSeconds(30));
                busy += stats.BusySeconds;
                forward += stats.ForwardSeconds;
            }
            return new SimulationResult(
                end - start, wall,
                results.Sum(r => (long)r.Completed.Usage.CompletionTokens),
                results.Sum(r => (long)r.Completed.Usage.PromptTokens),
                results.Select(r => r.Completed.Timings.TimeToFirstTokenMs).ToList(),
                results.SelectMany(r => r.Completed.Timings.InterTokenMs).ToList(),
                runtime.Transfers.TotalSeconds, busy, runtime.Metrics.PreemptionsTotal, runtime.Layout.ToString(),
                results.Select(r => r.Completed.Timings).ToList())
            {
                CpuSeconds = cpuSeconds,
                ForwardSeconds = forward,
            };
        }
        finally
        {
            await system.Terminate();
        }
    }

    /// <summary>The runtime's HOCON for a simulated rig: devices, layout, links from the topology, virtual clock.</summary>
    public static string Hocon(ModelShape model, WeightFormat format, Planning.Topology topology, int pipeline, int replicas, int maxBatchedTokens, int maxRunningSequences)
    {
        int gpus = pipeline * replicas;
        var inv = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        sb.AppendLine("akka.loglevel = WARNING");
        sb.AppendLine("actors-runtime.clock = virtual");
        // The collecting tasks read on the thread pool; a buffer a generation cannot fill keeps a slow
        // reader (a loaded machine) from pausing sequences, which would make the run depend on wall time.
        sb.AppendLine($"actors-runtime.request.stream-buffer = {Math.Min(1 << 20, model.Config.ContextLength + 1)}");
        sb.AppendLine("actors-runtime.devices = [ " + string.Join(", ", Enumerable.Range(0, gpus).Select(i => $"{{ id = \"gpu:{i}\", kind = simulated, spec = \"{topology.Gpu.Name}\" }}")) + " ]");
        sb.AppendLine($"actors-runtime.layout {{ pipeline = {pipeline}, replicas = {replicas} }}");
        sb.AppendLine($"actors-runtime.scheduler {{ max-batched-tokens = {maxBatchedTokens}, max-running-sequences = {maxRunningSequences}, max-waiting = 100000 }}");
        long blocks = KvBlocks(model, format, topology.Gpu, pipeline, maxBatchedTokens);
        sb.AppendLine($"actors-runtime.kv-cache {{ num-blocks = {blocks}, block-size = 16, type = f16 }}");
        var links = new List<string>();
        for (int a = 0; a < gpus; a++)
            for (int b = a + 1; b < gpus; b++)
            {
                var link = topology.LinkBetween(a, b);
                string kind = link.Name.Contains("nvlink") ? "nvlink" : link.Name.Contains("host-staged") ? "host-staged"
                    : link.Scope == LinkScope.Network ? "network" : "pcie-p2p";
                links.Add(string.Create(inv, $"{{ from = \"gpu:{a}\", to = \"gpu:{b}\", kind = {kind}, bandwidth = {link.EffectiveBandwidth}, latency = {(long)Math.Round(link.LatencySeconds * 1e9)}ns }}"));
            }
        if (links.Count > 0) sb.AppendLine("actors-runtime.transfer.links = [ " + string.Join(", ", links) + " ]");
        return sb.ToString();
    }

    /// <summary>
    /// KV blocks (16 tokens, F16) per stage: what is left of each GPU after its stage's weights and
    /// workspace, as vLLM's gpu_memory_utilization does, for the fullest stage of the runtime's own
    /// split (which balances weight bytes, so the stages with the embedding or the head take fewer layers).
    /// </summary>
    public static long KvBlocks(ModelShape model, WeightFormat format, GpuSpec gpu, int pipeline, int maxBatchedTokens)
    {
        var options = Cost.RooflineOptions.Default;
        // The same costs the runtime splits by (LlmRuntime), from the same shape-only model.
        using var shape = LlamaModel.ShapeOnly(model.Config, GgmlType.F16, model.Name);
        var costs = new Runtime.Layout.LayerCosts(shape.Layers.Select(l => l.ByteSize).ToList(), shape.TokenEmbedding.ByteSize,
            shape.Output.ByteSize + 4L * model.Dim, 2L * 2 * model.Config.KvDim);
        var stages = Runtime.Layout.LayoutPlanner.Split(costs, Enumerable.Repeat(1.0, pipeline).ToList());
        long blocks = 1 << 20;
        for (int s = 0; s < stages.Count; s++)
        {
            bool first = s == 0, last = s == stages.Count - 1;
            long free = gpu.UsableBytes - Cost.RooflineCostModel.StageWeightBytes(model, format, stages[s], first, last)
                - Cost.StageMemory.WorkspaceBytes(model, options, maxBatchedTokens, last);
            long blockBytes = 2L * 16 * model.Config.KvDim * 2 * stages[s].Count;
            blocks = Math.Min(blocks, free / blockBytes);
        }
        return Math.Max(1, blocks);
    }

    private static readonly Dictionary<int, Tokenizer> Vocabularies = new();

    /// <summary>A generated vocabulary of the model's size (simulated prompts are token ids; text only for completeness).</summary>
    private static Tokenizer VocabularyFor(int size)
    {
        lock (Vocabularies)
        {
            if (Vocabularies.TryGetValue(size, out var t)) return t;
            var v = SyntheticVocabulary.Build(SyntheticVocabularyKind.SentencePiece, size);
            var meta = new Dictionary<string, GgufValue>
            {
                ["tokenizer.ggml.model"] = new(GgufValueType.String, v.Model),
                ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, v.Tokens, GgufValueType.String),
                ["tokenizer.ggml.scores"] = new(GgufValueType.Array, v.Scores, GgufValueType.Float32),
                ["tokenizer.ggml.token_type"] = new(GgufValueType.Array, v.TokenTypes, GgufValueType.Int32),
                ["tokenizer.ggml.bos_token_id"] = new(GgufValueType.UInt32, (uint)v.BosId),
                ["tokenizer.ggml.eos_token_id"] = new(GgufValueType.UInt32, (uint)v.EosId),
            };
            return Vocabularies[size] = Tokenizer.FromMetadata(meta, "simulated vocabulary");
        }
    }
}
