using System.Globalization;
using System.Text;

namespace Actors.Simulation.Planning;

/// <summary>Plain-text tables of estimates for a terminal or a markdown document.</summary>
public static class PlanTable
{
    private static readonly string[] Header =
        ["layout", "fits", "GB/dev", "decode tok/s", "tok/s/seq", "prefill tok/s", "TTFT p50 ms", "TTFT p99 ms", "ITL p50 ms", "ITL p99 ms", "interconnect"];

    public static string Format(IEnumerable<LayoutEstimate> estimates, bool markdown = false)
        => Render(Header, estimates.Select(Cells), markdown);

    public static string Format(IEnumerable<ComparisonRow> rows, bool markdown = false)
        => Render(["variant", .. Header], rows.Select(r => (string[])[r.Label, .. Cells(r.Estimate)]), markdown);

    private static string[] Cells(LayoutEstimate e)
    {
        var inv = CultureInfo.InvariantCulture;
        if (!e.Fits)
            return [e.Layout, e.ShortfallGbPerDevice > 0 ? $"no (-{e.ShortfallGbPerDevice.ToString("F1", inv)} GB)" : "no", e.MemoryPerDeviceGb.ToString("F1", inv), "-", "-", "-", "-", "-", "-", "-", "-"];
        return
        [
            e.Layout, "yes", e.MemoryPerDeviceGb.ToString("F1", inv),
            e.DecodeTokensPerSecond.ToString("F0", inv), e.PerSequenceTokensPerSecond.ToString("F1", inv),
            e.PrefillTokensPerSecond.ToString("F0", inv), e.TtftMsP50.ToString("F0", inv), e.TtftMsP99.ToString("F0", inv),
            e.ItlMsP50.ToString("F1", inv), e.ItlMsP99.ToString("F1", inv), e.InterconnectShare.ToString("P1", inv),
        ];
    }

    private static string Render(string[] header, IEnumerable<string[]> rows, bool markdown)
    {
        var all = new List<string[]> { header };
        all.AddRange(rows);
        var widths = Enumerable.Range(0, header.Length).Select(i => all.Max(r => r[i].Length)).ToArray();
        var sb = new StringBuilder();
        for (int r = 0; r < all.Count; r++)
        {
            var cells = all[r].Select((c, i) => i == 0 ? c.PadRight(widths[i]) : c.PadLeft(widths[i]));
            sb.AppendLine(markdown ? "| " + string.Join(" | ", cells) + " |" : string.Join("  ", cells));
            if (r == 0) sb.AppendLine(markdown
                ? "|" + string.Join("|", widths.Select((w, i) => i == 0 ? new string('-', w + 2) : new string('-', w + 1) + ":")) + "|"
                : string.Join("  ", widths.Select(w => new string('-', w))));
        }
        return sb.ToString();
    }
}
