using System.Globalization;
using System.Text;
using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Xunit;
using Xunit.Abstractions;

namespace Actors.Simulation.Tests;

/// <summary>
/// Reproduces the article's 4x RTX 3090 table with the analytic planner (docs/nvlink-draft.md).
/// Set ACTORS_WRITE_DOCS to the repository root to rewrite docs/nvlink-draft-table.md and the SVG.
/// </summary>
public class NvlinkArticleTable(ITestOutputHelper output)
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;
    private static readonly ModelCatalog Mc = ModelCatalog.Default;
    private const string Pcie = "4x rtx-3090";
    private const string Pairs = "4x rtx-3090 nvlink=0-1,2-3";
    private const string P2p = "4x rtx-3090 pcie=pcie4-x16";

    private static readonly (string Model, string Label, int Batch, string Article)[] Rows =
    [
        ("llama-2-7b", "Llama-2 7B", 32, "65 vs 62 (+5%)"),
        ("llama-2-13b", "Llama-2 13B", 16, "58 vs 54 (+7%)"),
        ("llama-2-70b", "Llama-2 70B", 8, "45 vs 42 (+7%)"),
        ("falcon-180b-like", "180B-class", 4, "22 vs 20 (+10%)"),
    ];

    private static readonly string[] Formats = ["F16", "Q8_0", "Q6_K", "Q4_K_M", "Q4_0", "Q3_K", "Q2_K"];

    private static PlanRequest Request(string model, string format, string topology, int batch)
        => new(Mc.Model(model), Mc.Format(format), Topology.Parse(Hw, topology), Workload.Fixed(batch, 512, 256));

    private static string Pct(double with, double without) => (with / without - 1).ToString("+0.0%;-0.0%", CultureInfo.InvariantCulture);

    [Fact]
    public void Article_table_reproduced_by_the_planner()
    {
        var inv = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("| Model (batch) | Article: NVLink vs PCIe tok/s | Most precise weights that fit | PP=4 (article's layout) PCIe-only → NVLink pairs, tok/s | Best PCIe-only layout | Best with NVLink pairs | Best vs best | TP=2 prefill, host-staged → NVLink |");
        md.AppendLine("|---|---|---|---|---|---|---|---|");
        var bars = new List<(string, string, double)>();
        var detail = new StringBuilder();
        foreach (var (model, label, batch, article) in Rows)
        {
            var fit = Planner.MostPreciseFittingFormat(Request(model, "F16", Pcie, batch), Formats.Select(Mc.Format))!.Value;
            string fmt = fit.Format.Name;
            var pp4Pcie = Planner.Estimate(Request(model, fmt, Pcie, batch), Layout.Parse("tp1 pp4 x1"));
            var pp4Nv = Planner.Estimate(Request(model, fmt, Pairs, batch), Layout.Parse("tp1 pp4 x1"));
            var bestPcie = Planner.Plan(Request(model, fmt, Pcie, batch)).Recommended!;
            var bestNv = Planner.Plan(Request(model, fmt, Pairs, batch)).Recommended!;
            var tp2Pcie = Planner.Estimate(Request(model, fmt, Pcie, batch), Layout.Parse("tp2 pp2 x1"));
            var tp2Nv = Planner.Estimate(Request(model, fmt, Pairs, batch), Layout.Parse("tp2 pp2 x1"));
            string tp2 = tp2Pcie.Fits ? $"{tp2Pcie.PrefillTokensPerSecond:F0} → {tp2Nv.PrefillTokensPerSecond:F0} ({Pct(tp2Nv.PrefillTokensPerSecond, tp2Pcie.PrefillTokensPerSecond)}, tp2 pp2)" : "does not fit";
            md.AppendLine(string.Create(inv,
                $"| {label} ({batch}) | {article} | {fmt} ({fit.Format.BitsPerWeight:0.##} bpw, {Mc.Model(model).WeightBytes(fit.Format) / 1e9:F1} GB) " +
                $"| {pp4Pcie.DecodeTokensPerSecond:F0} → {pp4Nv.DecodeTokensPerSecond:F0} ({Pct(pp4Nv.DecodeTokensPerSecond, pp4Pcie.DecodeTokensPerSecond)}); {pp4Pcie.PerSequenceTokensPerSecond:F1} per sequence " +
                $"| {bestPcie.Layout}: {bestPcie.DecodeTokensPerSecond:F0} ({bestPcie.PerSequenceTokensPerSecond:F1}/seq) " +
                $"| {bestNv.Layout}: {bestNv.DecodeTokensPerSecond:F0} ({bestNv.PerSequenceTokensPerSecond:F1}/seq) " +
                $"| {Pct(bestNv.DecodeTokensPerSecond, bestPcie.DecodeTokensPerSecond)} | {tp2} |"));
            bars.Add(($"{label} ({fmt})", "PP=4, PCIe only", pp4Pcie.DecodeTokensPerSecond));
            bars.Add(($"{label} ({fmt})", "PP=4, NVLink pairs", pp4Nv.DecodeTokensPerSecond));
            bars.Add(($"{label} ({fmt})", "best, PCIe only", bestPcie.DecodeTokensPerSecond));
            bars.Add(($"{label} ({fmt})", "best, NVLink pairs", bestNv.DecodeTokensPerSecond));

            // Every layout under the three interconnects, for the appendix.
            var rows = new List<ComparisonRow>();
            foreach (var (topo, name) in new[] { (Pcie, "PCIe host-staged"), (P2p, "PCIe P2P (patched driver)"), (Pairs, "NVLink pairs") })
                foreach (var e in Planner.Plan(Request(model, fmt, topo, batch)).Layouts)
                    rows.Add(new ComparisonRow($"{name}", e));
            detail.AppendLine(string.Create(inv, $"#### {label}, {fmt}, batch {batch} (prompt 512, output 256)\n"));
            detail.AppendLine(PlanTable.Format(rows, markdown: true));

            Assert.True(bestPcie.Fits && bestNv.Fits);
            Assert.InRange(pp4Nv.DecodeTokensPerSecond / pp4Pcie.DecodeTokensPerSecond, 0.999, 1.01);
        }
        string table = md.ToString();
        string svg = ComparisonSvg.Render(bars, "4x RTX 3090, decode tokens/s (analytic model)", "tokens/s, all sequences");
        output.WriteLine(table);
        output.WriteLine(detail.ToString());
        if (Environment.GetEnvironmentVariable("ACTORS_WRITE_DOCS") is { Length: > 0 } root)
        {
            File.WriteAllText(Path.Combine(root, "docs", "nvlink-draft-table.md"), table + "\n" + detail);
            File.WriteAllText(Path.Combine(root, "docs", "nvlink-draft.svg"), svg);
        }
    }
}
