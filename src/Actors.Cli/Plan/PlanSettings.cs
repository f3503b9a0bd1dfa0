using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;

namespace Actors.Cli.Plan;

/// <summary>Which variants `--compare` lines up: interconnects, layouts, batch sizes, weight formats.</summary>
[Flags]
public enum CompareAxes
{
    None = 0,
    Link = 1,
    Layout = 2,
    Batch = 4,
    Quant = 8,
}

/// <summary>Everything `actors plan` was asked, resolved against the catalogs (names checked, rig built).</summary>
public sealed record PlanSettings
{
    public required ModelShape Model { get; init; }
    /// <summary>The weight format the user gave, or null: the most precise one that fits.</summary>
    public WeightFormat? Format { get; init; }
    public required Topology Topology { get; init; }
    public required NamedWorkload Workload { get; init; }
    public LayoutFilter Filter { get; init; } = LayoutFilter.Any;
    public CompareAxes Compare { get; init; }
    public bool Simulate { get; init; }
    /// <summary>Requests per simulated decode run; 0: the simulator chooses.</summary>
    public int SimulationRequests { get; init; }
    public bool Json { get; init; }
    public bool Markdown { get; init; }
    /// <summary>Where the comparison plot goes (only with --compare).</summary>
    public string PlotPath { get; init; } = "plan-compare.svg";

    public const string DefaultPlotPath = "plan-compare.svg";

    public static PlanSettings FromArguments(Arguments a, HardwareCatalog hardware, ModelCatalog models)
    {
        try
        {
            var model = models.Model(a.RequireString("model"));
            var format = a.String("quant") is { } q ? models.Format(q) : null;
            var topology = Rig.Build(hardware, a.RequireString("gpus"), a.String("link"), a.String("nvlink-pairs"), a.Flag("nvswitch"));
            var workload = WorkloadPresets.Resolve(a.RequireString("workload"));
            if (a.Has("batch")) workload = workload with { Workload = workload.Workload with { Concurrency = a.Int("batch", 1, 100_000) } };
            CheckContext(model, workload);
            var filter = new LayoutFilter(
                a.Has("tp") ? a.Int("tp", 1, 4096) : null,
                a.Has("pp") ? a.Int("pp", 1, 4096) : null,
                a.Has("replicas") ? a.Int("replicas", 1, 4096) : null);
            string? plot = a.String("plot");
            if (plot is not null && !plot.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
                throw new CliException($"option '--plot' must name an .svg file, got '{plot}'");
            var compare = ParseAxes(a.String("compare"));
            if (plot is not null && compare == CompareAxes.None) compare = CompareAxes.Link | CompareAxes.Layout;
            return new PlanSettings
            {
                Model = model,
                Format = format,
                Topology = topology,
                Workload = workload,
                Filter = filter,
                Compare = compare,
                Simulate = a.Flag("simulate"),
                SimulationRequests = a.Has("requests") ? a.Int("requests", 2, 1_000_000) : 0,
                Json = a.Flag("json"),
                Markdown = a.Flag("markdown"),
                PlotPath = plot ?? DefaultPlotPath,
            };
        }
        catch (CatalogException e)
        {
            throw new CliException(e.Message);
        }
    }

    /// <summary>
    /// "--compare" alone: interconnects and layouts. "--compare=link,batch": the named axes
    /// (link, layout, batch, quant, all).
    /// </summary>
    public static CompareAxes ParseAxes(string? value)
    {
        if (value is null) return CompareAxes.None;
        if (value is "true" or "1" or "yes") return CompareAxes.Link | CompareAxes.Layout;
        var axes = CompareAxes.None;
        foreach (var part in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            axes |= part.ToLowerInvariant() switch
            {
                "link" or "links" or "interconnect" => CompareAxes.Link,
                "layout" or "layouts" => CompareAxes.Layout,
                "batch" or "batches" => CompareAxes.Batch,
                "quant" or "quants" or "format" or "formats" => CompareAxes.Quant,
                "all" => CompareAxes.Link | CompareAxes.Layout | CompareAxes.Batch | CompareAxes.Quant,
                _ => throw new CliException($"option '--compare': '{part}' is not an axis (known: link, layout, batch, quant, all)"),
            };
        }
        if (axes == CompareAxes.None) throw new CliException($"option '--compare' names no axis, got '{value}'");
        return axes;
    }

    /// <summary>A typical request (median prompt and output) must fit the model's context window.</summary>
    private static void CheckContext(ModelShape model, NamedWorkload workload)
    {
        int typical = workload.Workload.Prompt.Quantile(0.5) + workload.Workload.Output.Quantile(0.5);
        if (typical > model.Config.ContextLength)
            throw new CliException($"workload '{workload.Name}': a median request of {typical} tokens (prompt + output) exceeds {model.Name}'s context of {model.Config.ContextLength}");
    }
}
