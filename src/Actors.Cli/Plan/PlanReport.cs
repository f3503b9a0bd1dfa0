using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Actors.Simulation.Planning;

namespace Actors.Cli.Plan;

/// <summary>Renders a <see cref="PlanOutcome"/> as text (or markdown), as one JSON object, and as the comparison plot.</summary>
public static class PlanReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static IEnumerable<string> Text(PlanOutcome o, string? plotPath)
    {
        var s = o.Settings;
        bool md = s.Markdown;
        string Line(string key, string value) => md ? $"- **{key}**: {value}" : $"{key,-12}{value}";
        var topo = s.Topology;
        yield return Line("model", string.Create(Inv, $"{s.Model.Name}: {s.Model.TotalParameters / 1e9:F2} B parameters, {s.Model.Layers} layers, context {s.Model.Config.ContextLength}"));
        yield return Line("weights", o.Format.Explanation(s.Model));
        yield return Line("rig", $"{topo.GpuCount}x {topo.Gpu.Name}; {LinkVariants.Explain(topo)}");
        if (topo.NvLink is { } nv)
            yield return Line("nvlink", string.Create(Inv, $"{(topo.NvSwitch ? "NVSwitch, every pair" : "pairs " + string.Join(",", topo.NvLinkPairs.Select(p => $"{p.A}-{p.B}")))} ({nv.Name}, {nv.Bandwidth / 1e9:0.##} GB/s per direction)"));
        yield return Line("workload", $"{s.Workload.Name}: {s.Workload.Workload.Concurrency} in flight, prompt {s.Workload.Workload.Prompt}, output {s.Workload.Workload.Output} tokens; prefill chunks of {s.Workload.Workload.PrefillChunkTokens} tokens");
        if (s.Filter.IsPinned) yield return Line("layouts", $"{s.Filter} (pinned)");
        yield return "";
        foreach (var line in PlanTable.Format(o.Layouts, md).TrimEnd().Split('\n')) yield return line.TrimEnd('\r');
        yield return "";
        if (o.Recommended is { } r)
        {
            yield return Line("recommended", Summary(r));
            if (o.RecommendedSimulated is { } sim) yield return Line("simulated", Summary(sim));
        }
        else yield return Line("no fit", $"no layout fits; closest is {o.Closest.Layout}: {o.Closest.Note}");
        if (o.Layouts.Any(l => l.ShortfallGbPerDevice > 0))
            yield return Line("fits", "no (-X GB): the fullest device of that layout lacks X GB (weights, KV for the sequences in flight, workspace)");
        if (o.Layouts.Any(l => l.Method == "simulated") || o.Sections.Any(x => x.Rows.Any(r => r.Estimate.Method == "simulated")))
            yield return Line("methods", "analytic = closed-form roofline estimate; simulated = the workload run through the actor runtime on simulated GPUs (virtual clock); tensor-parallel layouts are analytic only");
        foreach (var section in o.Sections)
        {
            yield return "";
            yield return md ? $"#### Compare: {section.Title}" : $"compare: {section.Title}";
            yield return "";
            // The layout and method columns already say what a layout row or a simulated twin is.
            var rows = section.Rows.Select(r => new ComparisonRow(
                section.GroupHeader switch { "layout" => r.Series, "interconnect" => r.Group, _ => $"{r.Group}, {r.Series}" }, r.Estimate));
            foreach (var line in PlanTable.Format(rows, md).TrimEnd().Split('\n')) yield return line.TrimEnd('\r');
        }
        if (o.KvMoves.Count > 0)
        {
            yield return "";
            var m0 = o.KvMoves[0];
            yield return Line("kv move", string.Create(Inv, $"one sequence's KV ({m0.Bytes / (double)(1 << 20):F0} MiB at the mean context) between two cards: ") +
                string.Join("; ", o.KvMoves.Select(m => string.Create(Inv, $"{m.Variant} {m.Seconds * 1e3:F1} ms"))));
        }
        if (plotPath is not null)
        {
            yield return "";
            yield return Line("plot", plotPath);
        }
    }

    /// <summary>One line on a layout: throughput, latency, interconnect share and memory.</summary>
    public static string Summary(LayoutEstimate e) => string.Create(Inv,
        $"{e.Layout} ({e.Method}): {e.DecodeTokensPerSecond:F0} tok/s decode over all sequences, {e.PerSequenceTokensPerSecond:F1} per sequence; " +
        $"prefill {e.PrefillTokensPerSecond:F0} tok/s; TTFT p50 {e.TtftMsP50:F0} ms, p99 {e.TtftMsP99:F0} ms; ITL p50 {e.ItlMsP50:F1} ms, p99 {e.ItlMsP99:F1} ms; " +
        $"interconnect {e.InterconnectShare:P1} of a decode step; {e.MemoryPerDeviceGb:F1} of {e.MemoryAvailableGb:F1} GB per device");

    /// <summary>
    /// One JSON object: the recommended layout's figures at the top level (decode_tokens_per_second,
    /// prefill_tokens_per_second, ttft_ms_p50, itl_ms_p50, interconnect_share, layout, ...), then the
    /// context, every layout, and the comparisons. When nothing fits, the top level is the closest layout (fits = false).
    /// </summary>
    public static string Json(PlanOutcome o, string? plotPath)
    {
        var s = o.Settings;
        var top = (JsonObject)JsonSerializer.SerializeToNode(o.Recommended ?? o.Closest)!;
        top["weights_choice"] = o.Format.Given ? "given" : o.Format.Fits ? "most precise format that fits" : "nothing fits";
        top["workload"] = new JsonObject
        {
            ["name"] = s.Workload.Name,
            ["concurrency"] = s.Workload.Workload.Concurrency,
            ["prompt"] = s.Workload.Workload.Prompt.ToString(),
            ["output"] = s.Workload.Workload.Output.ToString(),
            ["prefill_chunk_tokens"] = s.Workload.Workload.PrefillChunkTokens,
        };
        top["recommended"] = o.Recommended?.Layout;
        top["simulated"] = o.RecommendedSimulated is { } sim ? JsonSerializer.SerializeToNode(sim) : null;
        top["layouts"] = JsonSerializer.SerializeToNode(o.Layouts);
        if (o.Sections.Count > 0)
            top["comparisons"] = new JsonArray(o.Sections.Select(section => (JsonNode)new JsonObject
            {
                ["title"] = section.Title,
                ["rows"] = new JsonArray(section.Rows.Select(r => (JsonNode)new JsonObject
                {
                    [section.GroupHeader] = r.Group,
                    ["variant"] = r.Series,
                    ["estimate"] = JsonSerializer.SerializeToNode(r.Estimate),
                }).ToArray()),
            }).ToArray());
        if (o.KvMoves.Count > 0)
            top["kv_moves"] = new JsonArray(o.KvMoves.Select(m => (JsonNode)new JsonObject
            {
                ["variant"] = m.Variant,
                ["link"] = m.Link,
                ["bytes"] = m.Bytes,
                ["ms"] = m.Seconds * 1e3,
            }).ToArray());
        if (plotPath is not null) top["plot"] = plotPath;
        return top.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Decode tokens/s of every comparison, one chart per section (layouts that do not fit show "n/a").</summary>
    public static string Svg(PlanOutcome o)
    {
        var s = o.Settings;
        string rig = s.Topology.GpuCount + "x " + s.Topology.Gpu.Name;
        return ComparisonSvg.RenderPanels(o.Sections.Select(section => (
            // The batch comparison varies the sequences in flight, so its title must not name one.
            $"{s.Model.Name} {o.Format.Format.Name}, {rig}{(section.GroupHeader == "batch" ? "" : $", {s.Workload.Workload.Concurrency} in flight")}: {section.Title}",
            section.Rows.Select(r => (r.Group, r.Series, r.Estimate.Fits ? r.Estimate.DecodeTokensPerSecond : 0)))),
            "decode tokens/s, all sequences");
    }
}
