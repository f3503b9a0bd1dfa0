using Actors.Inference.Compute;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Simulation.Planning;

/// <summary>
/// Closed-form estimates for one layout, built on the roofline cost model. The event-driven
/// simulation through the actor runtime will replace these with measured virtual-clock figures;
/// until then each formula below says what it assumes.
///
/// Steady state: B sequences in flight are spread over the replicas; each replica's pipeline keeps
/// m = min(stages, sequences) micro-batches moving (vLLM's batch queue), so a decode "cycle" in which
/// every sequence gains one token lasts max(m × slowest stage, one micro-batch's trip through all
/// stages and boundaries). New prompts arrive as sequences finish (B × mean prompt / mean output
/// prompt tokens per cycle) and ride along as chunks, stretching the cycles they land in.
/// </summary>
internal sealed class LayoutEstimator(PlanRequest request)
{
    private readonly RooflineCostModel _cost = new(request.Options.Roofline);
    private ModelShape Model => request.Model;
    private Topology Topo => request.Topology;
    private Workload Work => request.Workload;
    private double Host => request.Options.HostStepOverheadSeconds;

    /// <summary>Why this layout cannot be built at all (degrees that do not divide), or null.</summary>
    public string? Invalid(Layout layout)
    {
        var c = Model.Config;
        if (layout.GpusUsed > Topo.GpuCount) return $"needs {layout.GpusUsed} GPUs, the topology has {Topo.GpuCount}";
        if (c.HeadCount % layout.TensorParallel != 0 || c.HeadCountKv % layout.TensorParallel != 0)
            return $"tensor parallelism {layout.TensorParallel} does not divide {c.HeadCount} heads / {c.HeadCountKv} KV heads";
        if (layout.TensorParallel > Topo.GpusPerNode) return $"tensor parallelism {layout.TensorParallel} spans nodes of {Topo.GpusPerNode} GPUs";
        if (layout.PipelineParallel > Model.Layers) return $"{layout.PipelineParallel} stages for {Model.Layers} layers";
        return null;
    }

    public LayoutEstimate Estimate(Layout layout)
    {
        var baseline = new LayoutEstimate
        {
            Layout = layout.ToString(),
            TensorParallel = layout.TensorParallel,
            PipelineParallel = layout.PipelineParallel,
            Replicas = layout.Replicas,
            GpusUsed = layout.GpusUsed,
            Model = Model.Name,
            Weights = request.Weights.Name,
            Topology = Topo.Description,
            Concurrency = Work.Concurrency,
            MemoryAvailableGb = Topo.Gpu.UsableBytes / 1e9,
        };
        if (Invalid(layout) is { } why) return baseline with { Note = why };

        var stages = SplitLayers(layout.PipelineParallel);
        int activeReplicas = Math.Min(layout.Replicas, Work.Concurrency);
        int perReplica = (Work.Concurrency + activeReplicas - 1) / activeReplicas;

        // Memory: the fullest stage decides. KV holds each sequence's mean final context.
        int residentContext = (int)Math.Min(Model.Config.ContextLength, Work.Prompt.Mean + Work.Output.Mean);
        long worst = 0;
        int worstStage = 0;
        for (int s = 0; s < stages.Length; s++)
        {
            bool first = s == 0, last = s == stages.Length - 1;
            long need = RooflineCostModel.StageWeightBytes(Model, request.Weights, stages[s], first, last, layout.TensorParallel)
                + StageMemory.KvBytes(Model, request.Options.Roofline, stages[s], perReplica, residentContext, layout.TensorParallel)
                + StageMemory.WorkspaceBytes(Model, request.Options.Roofline, Work.PrefillChunkTokens + perReplica, last, layout.TensorParallel);
            if (need > worst) (worst, worstStage) = (need, s);
        }
        long usable = Topo.Gpu.UsableBytes;
        baseline = baseline with { MemoryPerDeviceGb = worst / 1e9 };
        if (worst > usable)
        {
            double shortGb = (worst - usable) / 1e9;
            return baseline with
            {
                ShortfallGbPerDevice = shortGb,
                Note = $"does not fit: stage {worstStage} ({stages[worstStage]}) needs {worst / 1e9:F1} GB per device, " +
                       $"a {Topo.Gpu.Name} has {usable / 1e9:F1} GB usable: short by {shortGb:F1} GB per device",
            };
        }

        // Decode cycle.
        int microBatches = layout.PipelineParallel == 1 ? 1 : Math.Min(layout.PipelineParallel, perReplica);
        int microBatch = (perReplica + microBatches - 1) / microBatches;
        int decodeContext = (int)Math.Min(Model.Config.ContextLength, Work.Prompt.Mean + Work.Output.Mean / 2);
        var decode = Pass(layout, stages, BatchShape.Decode(microBatch, decodeContext), microBatch);
        double cycle = Math.Max(microBatches * decode.Slowest, decode.Chain) + Host;

        // The same cycle with one prompt chunk riding in one micro-batch.
        int chunk = (int)Math.Max(1, Math.Min(Work.PrefillChunkTokens, Math.Round(Work.Prompt.Mean)));
        var mixed = Pass(layout, stages, BatchShape.Mixed(microBatch, decodeContext, chunk), microBatch + chunk);
        double mixedCycle = Math.Max((microBatches - 1) * decode.Slowest + mixed.Slowest, mixed.Chain) + Host;
        // The chunk's own micro-batch waits for the chunk's whole trip; the other micro-batches only
        // for the extra time the chunk holds the slowest stage.
        double ownDelay = Math.Max(0, mixedCycle - cycle);
        double othersDelay = microBatches == 1 ? ownDelay : Math.Max(0, mixed.Slowest - decode.Slowest);
        double chunksPerCycle = Work.Concurrency / (double)activeReplicas * Work.Prompt.Mean / Work.Output.Mean / chunk;
        // Mean inter-token time over all sequences: a fraction chunksPerCycle of cycles carry a chunk.
        double meanItl = cycle + chunksPerCycle * (ownDelay / microBatches + othersDelay * (microBatches - 1) / microBatches);
        double decodeTps = Work.Concurrency / meanItl;
        // Quantiles over token intervals: a share chunksPerCycle/m of intervals sees the own delay,
        // a further share chunksPerCycle·(m−1)/m the others' delay. Several chunks per cycle stack.
        double stack = Math.Max(1, chunksPerCycle);
        double ItlQuantile(double p)
        {
            double tail = 1 - p;
            if (chunksPerCycle / microBatches >= tail) return cycle + stack * ownDelay;
            if (chunksPerCycle >= tail) return cycle + stack * othersDelay;
            return cycle;
        }
        double itl50 = ItlQuantile(0.5), itl99 = ItlQuantile(0.99);

        // Prefill capacity: full chunks streaming through every replica's pipeline back to back.
        int fullChunk = (int)Math.Max(1, Math.Min(Work.PrefillChunkTokens, Work.Prompt.Quantile(0.5)));
        var prefill = Pass(layout, stages, BatchShape.Prefill(fullChunk), fullChunk);
        double prefillTps = layout.Replicas * fullChunk / (Math.Max(prefill.Slowest, prefill.SlowestTransfer) + Host);

        // TTFT: wait for the running cycle to end (half of one on average, all of it at worst), then
        // the prompt's chunks, pipelined across stages, each sharing its step with a decode micro-batch.
        double Ttft(int promptTokens, double wait)
        {
            int chunks = (promptTokens + Work.PrefillChunkTokens - 1) / Work.PrefillChunkTokens;
            int last = promptTokens - (chunks - 1) * Work.PrefillChunkTokens;
            int first = Math.Min(promptTokens, Work.PrefillChunkTokens);
            var full = Pass(layout, stages, BatchShape.Mixed(microBatch, decodeContext, first), microBatch + first);
            var tail = Pass(layout, stages, BatchShape.Mixed(microBatch, decodeContext, last, promptTokens - last), microBatch + last);
            return wait + (chunks - 1) * (full.Slowest + Host) + tail.Chain + Host;
        }

        string limit = decode.Slowest * microBatches >= decode.Chain
            ? (decode.Collective + decode.Transfers > 0.3 * decode.Chain ? "interconnect-bound decode" : "memory-bandwidth-bound decode")
            : "pipeline bubbles (fewer sequences than stages)";
        return baseline with
        {
            Fits = true,
            DecodeTokensPerSecond = decodeTps,
            PerSequenceTokensPerSecond = 1 / itl50,
            PrefillTokensPerSecond = prefillTps,
            TtftMsP50 = 1e3 * Ttft(Work.Prompt.Quantile(0.5), cycle / 2),
            TtftMsP99 = 1e3 * Ttft(Work.Prompt.Quantile(0.99), cycle),
            ItlMsP50 = 1e3 * itl50,
            ItlMsP99 = 1e3 * itl99,
            InterconnectShare = (decode.Collective + decode.Transfers) / decode.Chain,
            PrefillInterconnectShare = (prefill.Collective + prefill.Transfers) / prefill.Chain,
            Note = limit,
        };
    }

    /// <summary>Times of one micro-batch's trip through the pipeline of replica 0.</summary>
    private readonly record struct PassTimes(double Slowest, double Chain, double Collective, double Transfers, double SlowestTransfer);

    private PassTimes Pass(Layout layout, LayerRange[] stages, BatchShape shape, int tokens)
    {
        double slowest = 0, chain = 0, collective = 0, transfers = 0, slowestTransfer = 0;
        for (int s = 0; s < stages.Length; s++)
        {
            var group = layout.TensorGroup(0, s);
            LinkSpec? tpLink = layout.TensorParallel > 1 ? Topo.RingBottleneck(group) : null;
            var algorithm = layout.TensorParallel > 1 ? Topo.AllReduceFor(group) : AllReduceAlgorithm.Ring;
            var step = _cost.StageStep(Model, request.Weights, stages[s], s == 0, s == stages.Length - 1, shape, Topo.Gpu, layout.TensorParallel, tpLink, algorithm);
            slowest = Math.Max(slowest, step.TotalSeconds);
            chain += step.TotalSeconds;
            collective += step.CollectiveSeconds;
            if (s + 1 < stages.Length)
            {
                var link = Topo.LinkBetween(layout.FirstDevice(0, s), layout.FirstDevice(0, s + 1));
                double x = link.TransferSeconds(_cost.BoundaryBytes(Model, tokens));
                chain += x;
                transfers += x;
                slowestTransfer = Math.Max(slowestTransfer, x);
            }
        }
        return new PassTimes(slowest, chain, collective, transfers, slowestTransfer);
    }

    /// <summary>Layers split as evenly as possible; earlier stages take the remainder.</summary>
    private LayerRange[] SplitLayers(int stages)
    {
        var result = new LayerRange[stages];
        int start = 0;
        for (int s = 0; s < stages; s++)
        {
            int count = Model.Layers / stages + (s < Model.Layers % stages ? 1 : 0);
            result[s] = new LayerRange(start, start + count);
            start += count;
        }
        return result;
    }
}
