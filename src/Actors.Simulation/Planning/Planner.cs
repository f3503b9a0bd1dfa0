using System.Text.Json;
using Actors.Simulation.Catalog;

namespace Actors.Simulation.Planning;

/// <summary>The planner's answer: every layout it tried and the one it recommends (null when none fits).</summary>
public sealed record PlanResult(PlanRequest Request, IReadOnlyList<LayoutEstimate> Layouts, LayoutEstimate? Recommended)
{
    /// <summary>The best-fitting layout, or an explanation naming the smallest shortfall.</summary>
    public string Summary => Recommended is { } r
        ? $"{r.Layout}: {r.DecodeTokensPerSecond:F0} tok/s decode, ITL p50 {r.ItlMsP50:F1} ms, TTFT p50 {r.TtftMsP50:F0} ms"
        : Layouts.Where(l => l.ShortfallGbPerDevice > 0).MinBy(l => l.ShortfallGbPerDevice) is { } near
            ? $"nothing fits; closest is {near.Layout}, {near.Note}"
            : "no valid layout";
}

/// <summary>One labelled variant of a comparison, optionally pinned to a layout.</summary>
public sealed record ComparisonVariant(string Label, PlanRequest Request, Layout? Layout = null);

/// <summary>One row of a comparison: the variant's label and its estimate.</summary>
public sealed record ComparisonRow(string Label, LayoutEstimate Estimate);

/// <summary>
/// The analytic planner: enumerates tensor × pipeline × replica layouts for a model on a topology,
/// checks memory, estimates throughput and latency, recommends the fastest layout that fits, and
/// compares variants (PCIe vs NVLink pairs, pipeline vs replicas vs tensor parallel, batch sizes,
/// weight formats) side by side.
/// </summary>
public static class Planner
{
    /// <summary>
    /// Every buildable layout: TP degrees that divide the GPU count, the heads and fit in a node;
    /// every pipeline depth up to what is left; as many replicas as the remaining GPUs allow.
    /// </summary>
    public static IReadOnlyList<Layout> Layouts(ModelShape model, Topology topology)
    {
        var result = new List<Layout>();
        for (int tp = 1; tp <= Math.Min(topology.GpuCount, topology.GpusPerNode); tp++)
        {
            if (topology.GpuCount % tp != 0 || model.Config.HeadCount % tp != 0 || model.Config.HeadCountKv % tp != 0) continue;
            for (int pp = 1; pp * tp <= topology.GpuCount && pp <= model.Layers; pp++)
                result.Add(new Layout(tp, pp, topology.GpuCount / (tp * pp)));
        }
        return result;
    }

    public static PlanResult Plan(PlanRequest request)
    {
        request.Workload.Validate();
        var estimator = new LayoutEstimator(request);
        var all = Layouts(request.Model, request.Topology).Select(estimator.Estimate).ToArray();
        var best = all.Where(e => e.Fits)
            .OrderByDescending(e => Math.Round(e.DecodeTokensPerSecond, 1))
            .ThenBy(e => e.GpusUsed)
            .ThenBy(e => e.TtftMsP50)
            .FirstOrDefault();
        return new PlanResult(request, all, best);
    }

    /// <summary>The estimate for one given layout (fits or not).</summary>
    public static LayoutEstimate Estimate(PlanRequest request, Layout layout)
    {
        request.Workload.Validate();
        return new LayoutEstimator(request).Estimate(layout);
    }

    /// <summary>Runs each variant (its pinned layout, or the recommended one) and lines them up.</summary>
    public static IReadOnlyList<ComparisonRow> Compare(IEnumerable<ComparisonVariant> variants)
        => variants.Select(v =>
        {
            var estimate = v.Layout is { } l ? Estimate(v.Request, l)
                : Plan(v.Request) is var plan && plan.Recommended is { } r ? r
                : plan.Layouts.Where(x => x.ShortfallGbPerDevice > 0).MinBy(x => x.ShortfallGbPerDevice) ?? plan.Layouts[0];
            return new ComparisonRow(v.Label, estimate);
        }).ToArray();

    /// <summary>
    /// The most precise of <paramref name="candidates"/> (highest bits per weight) for which some layout
    /// fits, with that plan; null when none fits. Answers "which quantization does this model need here?".
    /// </summary>
    public static (WeightFormat Format, PlanResult Plan)? MostPreciseFittingFormat(PlanRequest request, IEnumerable<WeightFormat> candidates)
    {
        foreach (var format in candidates.OrderByDescending(f => f.BitsPerWeight))
        {
            var plan = Plan(request with { Weights = format });
            if (plan.Recommended is not null) return (format, plan);
        }
        return null;
    }

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true };

    public static string ToJson(IEnumerable<LayoutEstimate> estimates) => JsonSerializer.Serialize(estimates.ToArray(), s_json);

    public static string ToJson(IEnumerable<ComparisonRow> rows)
        => JsonSerializer.Serialize(rows.Select(r => new { variant = r.Label, estimate = r.Estimate }).ToArray(), s_json);
}
