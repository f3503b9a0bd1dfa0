using Actors.Inference.Synthetic;
using Actors.Simulation.Planning;

namespace Actors.Simulation.Serving;

/// <summary>
/// The planner's second opinion: a layout's figures from the event-driven simulation, the workload
/// run through the real actor runtime (scheduler, device and transfer actors) on simulated GPUs.
///
/// How it maps the planner's closed loop onto a run:
/// - Replicas are independent, so each replica runs on its own with its share of the sequences in
///   flight (an even split, which is what the router's least-loaded choice converges to); replicas
///   whose links and share are identical are run once and counted for each.
/// - Decode: every request is submitted up front and the scheduler runs at most the replica's share
///   at once (its queue is the closed loop's client). The first wave starts at staggered points of
///   its output, as if the loop had been running, so completions are spread out as in a steady
///   state; <see cref="SteadyState"/> then cuts off start-up and drain.
/// - Prefill: a burst of prompts with one output token each, long enough to keep every stage of the
///   pipeline busy; prompt tokens per virtual second.
/// Tensor parallelism is not executed by the runtime: those layouts keep their analytic figures.
/// </summary>
public static class LayoutSimulator
{
    /// <summary>Requests per sequence in flight in a decode run when the workload does not say.</summary>
    public const int DefaultRequestsPerSequence = 4;

    public static bool CanSimulate(Layout layout) => layout.TensorParallel == 1;

    /// <summary>
    /// Simulates <paramref name="layout"/> and returns its estimate with method "simulated" (memory
    /// figures from <paramref name="analytic"/>, which must fit). <paramref name="requests"/> = 0 lets the
    /// simulator choose.
    /// </summary>
    public static async Task<LayoutEstimate> EstimateAsync(PlanRequest request, Layout layout, LayoutEstimate analytic, int requests = 0,
        CancellationToken cancel = default)
    {
        if (!CanSimulate(layout)) throw new ArgumentException($"layout {layout}: tensor parallelism is not executed by the runtime; only the analytic planner covers it");
        if (!analytic.Fits) throw new ArgumentException($"layout {layout} does not fit: {analytic.Note}");
        var work = request.Workload;
        int active = Math.Min(layout.Replicas, work.Concurrency);
        var shares = Enumerable.Range(0, active).Select(r => work.Concurrency / active + (r < work.Concurrency % active ? 1 : 0)).ToArray();

        // Replicas with the same links inside and the same share behave the same: run each kind once.
        var groups = Enumerable.Range(0, active)
            .GroupBy(r => (Signature(request.Topology, layout, r), shares[r]))
            .Select(g => (Replica: g.First(), Share: g.Key.Item2, Count: g.Count()))
            .ToArray();

        double tokensPerSecond = 0, transfer = 0, busy = 0;
        var itl = new List<double>();
        var ttft = new List<double>();
        double virtualSeconds = 0, wallSeconds = 0;
        foreach (var (replica, share, count) in groups)
        {
            var topology = ReplicaTopology(request.Topology, layout, replica);
            int total = requests > 0 ? Math.Max(share + 2, (int)Math.Round((double)requests * share / work.Concurrency)) : share * DefaultRequestsPerSequence + 2;
            var batch = ClosedLoopRequests(request, share, total, seed: (ulong)(17 + replica));
            var run = await SimulatedServing.RunAsync(request.Model, request.Weights, topology, layout.PipelineParallel, 1, batch,
                Math.Max(work.PrefillChunkTokens, share), share, cancel);
            var steady = SteadyState.Measure(run.RequestTimings, batch.Select(b => b.ArrivalSeconds).ToArray(), share);
            tokensPerSecond += count * steady.TokensPerSecond;
            for (int i = 0; i < count; i++)
            {
                itl.AddRange(steady.ItlMs);
                ttft.AddRange(steady.TtftMs);
            }
            transfer += count * run.TransferSeconds;
            busy += count * run.DeviceBusySeconds;
            virtualSeconds = Math.Max(virtualSeconds, run.VirtualSeconds);
            wallSeconds += run.WallSeconds;
        }

        // Prefill capacity: every replica (not only those with sequences) streams prompt chunks.
        double prefill = 0;
        foreach (var g in Enumerable.Range(0, layout.Replicas).GroupBy(r => Signature(request.Topology, layout, r)))
        {
            var run = await PrefillBurstAsync(request, layout, g.First(), cancel);
            prefill += g.Count() * run.PromptTokens / run.VirtualSeconds;
            wallSeconds += run.WallSeconds;
        }

        double itl50 = Percentile(itl, 0.5);
        return analytic with
        {
            Method = "simulated",
            DecodeTokensPerSecond = tokensPerSecond,
            PerSequenceTokensPerSecond = itl50 > 0 ? 1000 / itl50 : 0,
            PrefillTokensPerSecond = prefill,
            TtftMsP50 = Percentile(ttft, 0.5),
            TtftMsP99 = Percentile(ttft, 0.99),
            ItlMsP50 = itl50,
            ItlMsP99 = Percentile(itl, 0.99),
            InterconnectShare = busy + transfer > 0 ? transfer / (busy + transfer) : 0,
            PrefillInterconnectShare = 0,
            Note = FormattableString.Invariant($"event-driven: {groups.Length} replica run(s) through the actor runtime, {virtualSeconds:F1} s of virtual time in {wallSeconds:F1} s"),
        };
    }

    /// <summary>
    /// Requests of one replica's closed loop, all submitted at once: the first <paramref name="share"/>
    /// start at staggered points of their output, the rest follow in order (arrival times a microsecond
    /// apart keep the queue's order fixed). Lengths are drawn from the workload's distributions and
    /// clamped to the model's context.
    /// </summary>
    public static IReadOnlyList<SimulatedRequest> ClosedLoopRequests(PlanRequest request, int share, int total, ulong seed)
    {
        var work = request.Workload;
        int context = request.Model.Config.ContextLength;
        var rng = new DeterministicRandom(seed);
        var list = new List<SimulatedRequest>(total);
        for (int i = 0; i < total; i++)
        {
            int output = Math.Clamp(work.Output.Sample(ref rng), 1, context - 1);
            int prompt = Math.Clamp(work.Prompt.Sample(ref rng), 1, context - output);
            if (i < share) output = Math.Max(1, (int)Math.Round(output * (i + 1.0) / share));
            list.Add(new SimulatedRequest(prompt, output, i < share ? 0 : i * 1e-6));
        }
        return list;
    }

    private static Task<SimulationResult> PrefillBurstAsync(PlanRequest request, Layout layout, int replica, CancellationToken cancel)
    {
        var work = request.Workload;
        int chunk = work.PrefillChunkTokens;
        int prompt = Math.Clamp(work.Prompt.Quantile(0.5), 1, request.Model.Config.ContextLength - 1);
        // Eight full chunks per stage keep the pipeline full for most of the run.
        int count = Math.Clamp((int)Math.Ceiling(8.0 * layout.PipelineParallel * chunk / prompt), 2 * layout.PipelineParallel, 512);
        var burst = Enumerable.Range(0, count).Select(i => new SimulatedRequest(prompt, 1, i * 1e-6)).ToList();
        return SimulatedServing.RunAsync(request.Model, request.Weights, ReplicaTopology(request.Topology, layout, replica), layout.PipelineParallel, 1, burst,
            Math.Max(chunk, count), count, cancel);
    }

    /// <summary>
    /// The GPUs of one replica as a topology of their own, numbered from 0, with the NVLink pairs
    /// that join two of them. A replica must not straddle a node boundary unless it spans whole nodes.
    /// </summary>
    public static Topology ReplicaTopology(Topology topology, Layout layout, int replica)
    {
        int first = layout.FirstDevice(replica, 0), count = layout.GpusPerReplica;
        bool oneNode = topology.NodeOf(first) == topology.NodeOf(first + count - 1);
        if (!oneNode && first % topology.GpusPerNode != 0)
            throw new ArgumentException($"replica {replica} of {layout} starts in the middle of a node of {topology.GpusPerNode} GPUs and spans two");
        var pairs = topology.NvLinkPairs
            .Where(p => p.A >= first && p.A < first + count && p.B >= first && p.B < first + count)
            .Select(p => (p.A - first, p.B - first)).ToArray();
        return topology with
        {
            GpuCount = count,
            GpusPerNode = oneNode ? count : topology.GpusPerNode,
            NvLinkPairs = pairs,
            NvLink = pairs.Length > 0 || topology.NvSwitch ? topology.NvLink : null,
        };
    }

    /// <summary>
    /// Identifies what a simulation of <paramref name="layout"/> depends on (model, weights, workload, the
    /// links inside each replica), so callers comparing variants can run equal ones once.
    /// </summary>
    public static string CacheKey(PlanRequest request, Layout layout)
        => $"{request.Model.Name}|{request.Weights.Name}|{request.Workload}|{request.Workload.PrefillChunkTokens}|{request.Topology.Gpu.Name}|{layout}|"
           + string.Join(";", Enumerable.Range(0, layout.Replicas).Select(r => Signature(request.Topology, layout, r)));

    /// <summary>The links between consecutive stages of a replica: replicas with equal signatures simulate alike.</summary>
    private static string Signature(Topology topology, Layout layout, int replica)
        => string.Join(",", Enumerable.Range(0, layout.PipelineParallel - 1)
            .Select(s => topology.LinkBetween(layout.FirstDevice(replica, s), layout.FirstDevice(replica, s + 1)).Name));

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0) return 0;
        values.Sort();
        double rank = p * (values.Count - 1);
        int lo = (int)Math.Floor(rank), hi = (int)Math.Ceiling(rank);
        return values[lo] + (values[hi] - values[lo]) * (rank - lo);
    }
}
