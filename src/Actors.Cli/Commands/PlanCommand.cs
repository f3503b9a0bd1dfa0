using Actors.Cli.Plan;
using Actors.Simulation.Catalog;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors plan`: what a model on a rig would do — which weight format fits, every tensor × pipeline ×
/// replica layout with tokens/s, TTFT, ITL, interconnect share and memory per device, the layout to
/// use, and, with --compare, variants side by side with a plot. --simulate adds the event-driven
/// figures of the pipeline and replica layouts (the workload run through the actor runtime).
/// </summary>
public sealed class PlanCommand : ICommand
{
    public string Name => "plan";
    public string Summary => "what-if planner: layouts, tokens/s, TTFT/ITL and interconnect cost of a model on a (simulated) rig";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("model", "model shape from the catalog, e.g. llama-2-70b (required)"),
        new("gpus", "count and GPU, e.g. 4xrtx3090 or '4x rtx-3090' (required)"),
        new("link", "PCIe path between cards without NVLink: pcie3|pcie4|pcie5 (the card's own: host-staged on GeForce), pcie4-p2p, or a catalog link (default: the card's)"),
        new("nvlink-pairs", "NVLink bridges between pairs, e.g. 0-1,2-3"),
        new("nvswitch", "every card on an NVSwitch (cards that support one)", IsFlag: true),
        new("quant", "weight format, e.g. q4_k, Q8_0, F16 (default: the most precise that fits)"),
        new("workload", "chat, long-context, batch-decode, or a HOCON/JSON file (concurrency, prompt, output, requests)", "chat"),
        new("batch", "sequences in flight (overrides the workload's concurrency)"),
        new("tp", "pin tensor parallelism"),
        new("pp", "pin pipeline stages per replica"),
        new("replicas", "pin data-parallel replicas"),
        new("compare", "variants side by side: --compare (interconnects x layouts) or --compare=link,layout,batch,quant|all; writes a plot", IsFlag: true),
        new("plot", $"SVG file for the comparison plot (default: {PlanSettings.DefaultPlotPath}; implies --compare)"),
        new("simulate", "also run the pipeline/replica layouts through the actor runtime on simulated GPUs (event-driven, virtual clock)", IsFlag: true),
        new("requests", "requests per simulated run (default: 4 per sequence in flight, or the workload file's)"),
        new("json", "print one JSON object", IsFlag: true),
        new("markdown", "print tables as markdown", IsFlag: true),
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        var settings = PlanSettings.FromArguments(a, HardwareCatalog.Default, ModelCatalog.Default);
        if (settings.SimulationRequests == 0 && settings.Workload.Requests > 0) settings = settings with { SimulationRequests = settings.Workload.Requests };
        PlanOutcome outcome;
        try
        {
            // A bar only for the slow part: layouts simulated through the actor runtime.
            outcome = await CliProgress.Run(settings.Simulate && CliProgress.ShouldShow(settings.Json), "plan: simulating layouts", 1,
                progress => new PlanEngine(settings, ModelCatalog.Default, HardwareCatalog.Default, progress).RunAsync(cancel), log: Console.Error);
        }
        catch (CatalogException e)
        {
            throw new CliException(e.Message);
        }
        string? plot = null;
        if (outcome.Sections.Count > 0)
        {
            plot = settings.PlotPath;
            string? dir = Path.GetDirectoryName(Path.GetFullPath(plot));
            if (dir is not null && !Directory.Exists(dir)) throw new CliException($"option '--plot': directory '{dir}' does not exist");
            await File.WriteAllTextAsync(plot, PlanReport.Svg(outcome), cancel);
        }
        if (settings.Json) await output.WriteLineAsync(PlanReport.Json(outcome, plot));
        else foreach (var line in PlanReport.Text(outcome, plot)) await output.WriteLineAsync(line);
        return outcome.Recommended is null ? 1 : 0;
    }
}
