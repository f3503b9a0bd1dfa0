using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Actors.Simulation.Serving;

namespace Actors.Cli.Plan;

/// <summary>One bar of a comparison: which group (a layout, a batch size, a format) and which series (an interconnect).</summary>
public sealed record CompareRow(string Group, string Series, LayoutEstimate Estimate);

/// <summary>One comparison: rows grouped along one axis, each group with one row per interconnect (and method).</summary>
public sealed record CompareSection(string Title, string GroupHeader, IReadOnlyList<CompareRow> Rows);

/// <summary>
/// Moving one sequence's KV cache between two cards (swap-out, migration between replicas, handing a
/// prefilled sequence to a decode replica): bytes at the workload's mean context and the copy time.
/// </summary>
public sealed record KvMove(string Variant, string Link, long Bytes, double Seconds);

/// <summary>What `actors plan` found.</summary>
public sealed record PlanOutcome(
    PlanSettings Settings,
    FormatChoice Format,
    IReadOnlyList<LayoutEstimate> Layouts,
    LayoutEstimate? Recommended,
    LayoutEstimate? RecommendedSimulated,
    IReadOnlyList<CompareSection> Sections,
    IReadOnlyList<KvMove> KvMoves)
{
    /// <summary>The layout that misses by the least, when nothing fits.</summary>
    public LayoutEstimate Closest => Recommended ?? FormatChoice.Closest(Layouts.Where(l => l.Method == "analytic").ToArray());
}

/// <summary>
/// Runs a plan: picks the weight format, estimates every allowed layout analytically, simulates the
/// pipeline and replica layouts through the actor runtime when asked, and builds the comparisons.
/// Simulations are memoised: variants whose replicas have the same links inside run once. Each simulation
/// is a step of <paramref name="progress"/> (a bar in a terminal, log lines otherwise).
/// </summary>
public sealed class PlanEngine(PlanSettings settings, ModelCatalog models, HardwareCatalog hardware, ProgressReporter progress)
{
    private readonly Dictionary<string, LayoutEstimate> _simulated = new(StringComparer.Ordinal);
    private int _simulations;

    /// <summary>Simulations of the main pass (the bar's length; comparisons run on an open-ended bar).</summary>
    private static int MainPassSimulations(PlanSettings settings, IReadOnlyList<LayoutEstimate> analytic) =>
        settings.Simulate ? analytic.Count(e => e.Fits && LayoutSimulator.CanSimulate(new Layout(e.TensorParallel, e.PipelineParallel, e.Replicas))) : 0;

    public static readonly int[] BatchSizes = [1, 2, 4, 8, 16, 32, 64, 128, 256];

    public async Task<PlanOutcome> RunAsync(CancellationToken cancel)
    {
        var baseRequest = Request(settings.Topology, settings.Workload.Workload, settings.Format ?? models.Format("F16"));
        var choice = FormatChoice.Choose(models, settings.Format, f => Estimates(baseRequest with { Weights = f }));
        var request = baseRequest with { Weights = choice.Format };
        var analytic = Estimates(request);
        var recommended = Planner.Best(analytic);
        progress.SetTotal(MainPassSimulations(settings, analytic));

        var layouts = new List<LayoutEstimate>();
        LayoutEstimate? recommendedSimulated = null;
        foreach (var estimate in analytic)
        {
            layouts.Add(estimate);
            if (!settings.Simulate) continue;
            if (await SimulateAsync(request, estimate, LinkVariants.PcieLabel(settings.Topology.Pcie), cancel) is { } sim)
            {
                layouts.Add(sim);
                if (ReferenceEquals(estimate, recommended)) recommendedSimulated = sim;
            }
        }

        var sections = new List<CompareSection>();
        if (settings.Compare != CompareAxes.None)
        {
            if (settings.Simulate) progress.Indeterminate();
            sections.AddRange(await CompareAsync(request, cancel));
        }
        var moves = (settings.Compare & CompareAxes.Link) != 0 ? KvMoves(request) : [];
        return new PlanOutcome(settings, choice, layouts, recommended, recommendedSimulated, sections, moves);
    }

    /// <summary>
    /// One sequence's KV (F16, every layer: a sliding-window layer's window only) at the workload's mean final context, copied between two
    /// cards over each interconnect: between the cards of a bridged pair where there are bridges.
    /// </summary>
    private IReadOnlyList<KvMove> KvMoves(PlanRequest request)
    {
        var w = request.Workload;
        long tokens = (long)Math.Min(request.Model.Config.ContextLength, w.Prompt.Mean + w.Output.Mean);
        long bytes = request.Model.KvBytesPerSequence(tokens, request.Options.Roofline.KvElementBytes);
        return LinkVariants.For(hardware, settings.Topology)
            .Where(v => v.Topology.GpuCount > 1)
            .Select(v =>
            {
                var (a, b) = v.Topology.NvLinkPairs.Count > 0 ? v.Topology.NvLinkPairs[0] : (0, 1);
                var link = v.Topology.LinkBetween(a, b);
                return new KvMove(v.Label, link.Name, bytes, link.TransferSeconds(bytes));
            }).ToArray();
    }

    private PlanRequest Request(Topology topology, Workload workload, WeightFormat format) => new(settings.Model, format, topology, workload);

    /// <summary>Analytic estimates of the allowed layouts (all, or those pinned by --tp/--pp/--replicas).</summary>
    private IReadOnlyList<LayoutEstimate> Estimates(PlanRequest request)
        => settings.Filter.Apply(Planner.Layouts(request.Model, request.Topology)).Select(l => Planner.Estimate(request, l)).ToArray();

    /// <summary>The event-driven figures of a fitting pipeline/replica layout; null for TP layouts and layouts that do not fit.</summary>
    private async Task<LayoutEstimate?> SimulateAsync(PlanRequest request, LayoutEstimate analytic, string linkLabel, CancellationToken cancel)
    {
        var layout = new Layout(analytic.TensorParallel, analytic.PipelineParallel, analytic.Replicas);
        if (!analytic.Fits || !LayoutSimulator.CanSimulate(layout)) return null;
        string key = LayoutSimulator.CacheKey(request, layout) + "|" + settings.SimulationRequests;
        if (!_simulated.TryGetValue(key, out var sim))
        {
            progress.Step($"simulating {layout} ({request.Weights.Name}, {request.Workload.Concurrency} in flight, {linkLabel}) through the actor runtime...");
            sim = await LayoutSimulator.EstimateAsync(request, layout, analytic, settings.SimulationRequests, cancel);
            _simulated[key] = sim;
            progress.Report(++_simulations);
        }
        // Same figures, this variant's labels (topology text, memory) from its own analytic estimate.
        return sim with { Topology = analytic.Topology, MemoryPerDeviceGb = analytic.MemoryPerDeviceGb };
    }

    private async Task<IReadOnlyList<CompareSection>> CompareAsync(PlanRequest request, CancellationToken cancel)
    {
        var axes = settings.Compare;
        var links = (axes & CompareAxes.Link) != 0
            ? LinkVariants.For(hardware, settings.Topology)
            : [(settings.Topology.NvLinkPairs.Count > 0 || settings.Topology.NvSwitch ? "as given" : LinkVariants.PcieLabel(settings.Topology.Pcie), settings.Topology)];
        var sections = new List<CompareSection>();

        if ((axes & CompareAxes.Layout) != 0)
        {
            var rows = new List<CompareRow>();
            foreach (var (label, topology) in links)
                foreach (var e in Estimates(request with { Topology = topology }))
                    await AddAsync(rows, e.Layout, label, e, request with { Topology = topology }, cancel);
            sections.Add(new CompareSection("layouts", "layout", Order(rows)));
        }
        if ((axes & CompareAxes.Batch) != 0)
        {
            var rows = new List<CompareRow>();
            foreach (int batch in BatchSizes.Append(request.Workload.Concurrency).Distinct().Order())
                foreach (var (label, topology) in links)
                {
                    var r = request with { Topology = topology, Workload = request.Workload with { Concurrency = batch } };
                    await AddAsync(rows, $"batch {batch}", label, BestOrClosest(Estimates(r)), r, cancel);
                }
            sections.Add(new CompareSection("batch sizes (recommended layout for each)", "batch", rows));
        }
        if ((axes & CompareAxes.Quant) != 0)
        {
            var rows = new List<CompareRow>();
            foreach (var name in FormatChoice.Candidates.Where(models.Formats.ContainsKey))
                foreach (var (label, topology) in links)
                {
                    var r = request with { Topology = topology, Weights = models.Format(name) };
                    await AddAsync(rows, name, label, BestOrClosest(Estimates(r)), r, cancel);
                }
            sections.Add(new CompareSection("weight formats (recommended layout for each)", "weights", rows));
        }
        if (axes == CompareAxes.Link)
        {
            var rows = new List<CompareRow>();
            foreach (var (label, topology) in links)
            {
                var r = request with { Topology = topology };
                await AddAsync(rows, label, "recommended layout", BestOrClosest(Estimates(r)), r, cancel);
            }
            sections.Add(new CompareSection("interconnects (recommended layout for each)", "interconnect", rows));
        }
        return sections;
    }

    /// <summary>Adds the analytic row and, when simulating, its event-driven twin.</summary>
    private async Task AddAsync(List<CompareRow> rows, string group, string series, LayoutEstimate estimate, PlanRequest request, CancellationToken cancel)
    {
        rows.Add(new CompareRow(group, series, estimate));
        if (settings.Simulate && await SimulateAsync(request, estimate, series, cancel) is { } sim)
            rows.Add(new CompareRow(group, series + " (simulated)", sim));
    }

    /// <summary>Rows of one group together, groups in first-seen order.</summary>
    private static IReadOnlyList<CompareRow> Order(List<CompareRow> rows)
    {
        var groups = rows.Select(r => r.Group).Distinct().ToList();
        return rows.OrderBy(r => groups.IndexOf(r.Group)).ToArray();
    }

    private static LayoutEstimate BestOrClosest(IReadOnlyList<LayoutEstimate> estimates) => Planner.Best(estimates) ?? FormatChoice.Closest(estimates);
}
