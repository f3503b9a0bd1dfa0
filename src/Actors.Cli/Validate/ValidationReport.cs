using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Actors.Simulation.Catalog;

namespace Actors.Cli.Validate;

/// <summary>Measured machine figures, the device entry built from them and every case with its prediction error.</summary>
public sealed record ValidationReport(
    int Threads,
    double BandwidthBefore, double BandwidthAfter,
    double FlopsBefore, double FlopsAfter,
    IReadOnlyDictionary<string, (MatmulKernel Before, MatmulKernel After)> Kernels,
    OpRates OpsBefore, OpRates OpsAfter,
    GpuSpec Device,
    MeasuredFactors Factors,
    IReadOnlyList<ValidationCase> Cases,
    double Tolerance)
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public GpuSpec Entry => Factors.Apply(Device);

    /// <summary>Relative error of the entry, (predicted − measured) / measured.</summary>
    public double Error(ValidationCase c) => c.PredictedSeconds(Entry) / c.MeasuredSeconds - 1;

    public double WorstError => Cases.Max(c => Math.Abs(Error(c)));
    public bool WithinTolerance => WorstError <= Tolerance;

    public IEnumerable<string> Text(bool markdown)
    {
        string Line(string key, string value) => markdown ? $"- **{key}**: {value}" : $"{key,-12}{value}";
        yield return Line("machine", string.Create(Inv,
            $"{Environment.ProcessorCount} logical CPUs, {Threads} threads: read bandwidth {BandwidthBefore / 1e9:F2} / {BandwidthAfter / 1e9:F2} GB/s, " +
            $"FP32 FMA peak {FlopsBefore / 1e9:F1} / {FlopsAfter / 1e9:F1} GFLOP/s (before / after the cases, best of 5 each; the entry takes the better)"));
        foreach (var (format, (before, after)) in Kernels)
            yield return Line($"matmul {format}", string.Create(Inv, $"tiles of {before.TileTokens} tokens; ") + string.Join("; ", before.Rates.Zip(after.Rates, (b, a) => string.Create(Inv,
                $"k={b.RowLength}: tiled {b.TiledFlops / 1e9:F1}/{a.TiledFlops / 1e9:F1}, single {b.SingleFlops / 1e9:F1}/{a.SingleFlops / 1e9:F1} GFLOP/s, streams {b.StreamBandwidth / 1e9:F1}/{a.StreamBandwidth / 1e9:F1} GB/s, first tile from DRAM {b.TileStreamFlops / 1e9:F1}/{a.TileStreamFlops / 1e9:F1} GFLOP/s")))
                + " (the backend's kernel; before/after)");
        yield return Line("other ops", string.Create(Inv,
            $"attention {OpsBefore.AttentionFlops / 1e9:F1}/{OpsAfter.AttentionFlops / 1e9:F1} GFLOP/s, elementwise {OpsBefore.ElementwiseBandwidth / 1e9:F1}/{OpsAfter.ElementwiseBandwidth / 1e9:F1} GB/s, " +
            $"parallel-op dispatch {OpsBefore.DispatchSeconds * 1e6:F3}/{OpsAfter.DispatchSeconds * 1e6:F3} µs (the backend's own ops; before/after)"));
        yield return Line("entry", string.Create(Inv,
            $"memory-efficiency {Factors.MemoryEfficiency:F2}, compute-efficiency {Factors.ComputeEfficiency:F2} (the figures are measured), launch-overhead {Factors.LaunchOverheadSeconds * 1e6:F3} µs (measured dispatch); nothing fitted to the steps"));
        yield return "";
        string[] header = ["model", "weights", "MB", "step", "measured ms", "predicted ms", "error", "bound"];
        var rows = Cases.Select(c => new[]
        {
            c.Model, c.Format.Name, (c.WeightBytes / 1e6).ToString("F0", Inv), c.Step,
            (c.MeasuredSeconds * 1e3).ToString("F2", Inv), (c.PredictedSeconds(Entry) * 1e3).ToString("F2", Inv),
            Error(c).ToString("+0.0%;-0.0%", Inv),
            c.Bound(Entry),
        }).ToList();
        foreach (var line in Table(header, rows, markdown)) yield return line;
        yield return "";
        yield return Line("worst error", string.Create(Inv, $"{WorstError:P1} ({(WithinTolerance ? "within" : "OUTSIDE")} the {Tolerance:P0} the issue asks for); " +
            $"{Cases.Count(c => Math.Abs(Error(c)) <= Tolerance)} of {Cases.Count} cases within"));
        yield return "";
        yield return "device entry (config/catalog/hardware.conf, section cpus):";
        yield return string.Create(Inv,
            $"  this-cpu {{ memory-gib = {Device.MemoryBytes / (double)(1L << 30):F0}, reserved-gib = 2, memory-bandwidth-gbs = {Device.MemoryBandwidth / 1e9:F2}, " +
            $"fp16-tflops = {Device.Fp16Flops / 1e12:F4}, bf16-tflops = {Device.Fp16Flops / 1e12:F4}, memory-efficiency = {Factors.MemoryEfficiency:F3}, " +
            $"compute-efficiency = {Factors.ComputeEfficiency:F3}, launch-overhead-us = {Factors.LaunchOverheadSeconds * 1e6:F3}, " +
            $"attention-gflops = {Device.AttentionFlops / 1e9:F2}, elementwise-gbs = {Device.ElementwiseBandwidth / 1e9:F2}, " +
            $"pcie = ethernet-10g, matmul {{ {string.Join(" ", Device.MatmulKernels.Select(r => KernelEntry(r.Key, r.Value)))} }} }}");
    }

    /// <summary>A kernel in the catalog's per-row-length form (objects side by side take no comma in HOCON).</summary>
    private static string KernelEntry(string format, MatmulKernel k)
        => string.Create(Inv, $"{format} {{ tile-tokens = {k.TileTokens}, {(k.LeftoversReread ? "leftover-rereads = true, " : "")}row-length {{ ") + string.Join(" ", k.Rates.Select(r => string.Create(Inv,
            $"{r.RowLength} {{ tiled-tflops = {r.TiledFlops / 1e12:F4}, single-tflops = {r.SingleFlops / 1e12:F4}, stream-gbs = {r.StreamBandwidth / 1e9:F2}, tile-stream-tflops = {r.TileStreamFlops / 1e12:F4} }}"))) + " } }";

    public string Json()
    {
        var o = new JsonObject
        {
            ["threads"] = Threads,
            ["read_bandwidth_gbs"] = Math.Max(BandwidthBefore, BandwidthAfter) / 1e9,
            ["read_bandwidth_gbs_before_after"] = new JsonArray(BandwidthBefore / 1e9, BandwidthAfter / 1e9),
            ["fma_gflops"] = Math.Max(FlopsBefore, FlopsAfter) / 1e9,
            ["fma_gflops_before_after"] = new JsonArray(FlopsBefore / 1e9, FlopsAfter / 1e9),
            ["matmul_kernels"] = new JsonObject(Device.MatmulKernels.Select(r => KeyValuePair.Create(r.Key, (JsonNode?)new JsonObject
            {
                ["tile_tokens"] = r.Value.TileTokens,
                ["row_lengths"] = new JsonArray(r.Value.Rates.Select(x => (JsonNode)new JsonObject
                {
                    ["k"] = x.RowLength,
                    ["tiled_gflops"] = x.TiledFlops / 1e9,
                    ["single_gflops"] = x.SingleFlops / 1e9,
                    ["stream_gbs"] = x.StreamBandwidth / 1e9,
                    ["tile_stream_gflops"] = x.TileStreamFlops / 1e9,
                }).ToArray()),
            }))),
            ["memory_efficiency"] = Factors.MemoryEfficiency,
            ["compute_efficiency"] = Factors.ComputeEfficiency,
            ["launch_overhead_us"] = Factors.LaunchOverheadSeconds * 1e6,
            ["attention_gflops"] = Device.AttentionFlops / 1e9,
            ["elementwise_gbs"] = Device.ElementwiseBandwidth / 1e9,
            ["worst_error"] = WorstError,
            ["tolerance"] = Tolerance,
            ["within_tolerance"] = WithinTolerance,
            ["cases"] = new JsonArray(Cases.Select(c => (JsonNode)new JsonObject
            {
                ["model"] = c.Model,
                ["weights"] = c.Format.Name,
                ["weight_bytes"] = c.WeightBytes,
                ["step"] = c.Step,
                ["measured_ms"] = c.MeasuredSeconds * 1e3,
                ["predicted_ms"] = c.PredictedSeconds(Entry) * 1e3,
                ["error"] = Error(c),
                ["bound"] = c.Bound(Entry),
            }).ToArray()),
        };
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    private static IEnumerable<string> Table(string[] header, List<string[]> rows, bool markdown)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = Enumerable.Range(0, header.Length).Select(i => all.Max(r => r[i].Length)).ToArray();
        for (int r = 0; r < all.Count; r++)
        {
            var cells = all[r].Select((c, i) => i < 2 || i == 3 || i == 7 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]));
            yield return markdown ? "| " + string.Join(" | ", cells) + " |" : string.Join("  ", cells);
            if (r == 0) yield return markdown ? "|" + string.Join("|", widths.Select(w => new string('-', w + 2))) + "|" : string.Join("  ", widths.Select(w => new string('-', w)));
        }
    }
}
