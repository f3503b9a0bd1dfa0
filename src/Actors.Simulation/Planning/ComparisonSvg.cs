using System.Globalization;
using System.Net;
using System.Text;

namespace Actors.Simulation.Planning;

/// <summary>
/// A grouped bar chart as plain SVG text (no dependency): one group per x position, one bar per
/// series in each group, a value label on every bar. For comparisons such as "tokens/s per model,
/// PCIe vs NVLink pairs".
/// </summary>
public static class ComparisonSvg
{
    private static readonly string[] Palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"];

    /// <summary>
    /// Renders bars of <paramref name="value"/> for comparison rows whose labels read "group / series"
    /// (a label without " / " is its own group with series "value").
    /// </summary>
    public static string Render(IEnumerable<ComparisonRow> rows, string title, Func<LayoutEstimate, double> value, string axisLabel)
        => Render(rows.Select(r =>
        {
            int cut = r.Label.IndexOf(" / ", StringComparison.Ordinal);
            return cut < 0 ? (r.Label, "value", r.Estimate.Fits ? value(r.Estimate) : 0)
                : (r.Label[..cut], r.Label[(cut + 3)..], r.Estimate.Fits ? value(r.Estimate) : 0);
        }), title, axisLabel);

    public static string Render(IEnumerable<(string Group, string Series, double Value)> bars, string title, string axisLabel)
    {
        var data = bars.ToArray();
        var groups = data.Select(d => d.Group).Distinct().ToArray();
        var series = data.Select(d => d.Series).Distinct().ToArray();
        double max = Math.Max(1e-9, data.Length == 0 ? 1 : data.Max(d => d.Value));
        double top = NiceCeiling(max);

        const int left = 80, right = 20, topMargin = 50, bottom = 70, plotHeight = 320, barWidth = 34, gap = 30;
        int groupWidth = series.Length * barWidth + gap;
        int width = left + right + Math.Max(1, groups.Length) * groupWidth;
        int height = topMargin + plotHeight + bottom + 20 * series.Length;
        var inv = CultureInfo.InvariantCulture;
        string F(double v) => v.ToString("0.#", inv);
        string E(string s) => WebUtility.HtmlEncode(s);
        // Bar labels: whole numbers from 100 up, so neighbouring labels do not run into each other.
        string Label(double v) => v == 0 ? "n/a" : v >= 100 ? v.ToString("0", inv) : v.ToString("0.#", inv);

        var sb = new StringBuilder();
        sb.Append(inv, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        sb.Append(inv, $"  <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        sb.Append(inv, $"  <text x=\"{width / 2}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{E(title)}</text>\n");
        // Axis with five ticks.
        for (int i = 0; i <= 5; i++)
        {
            double v = top * i / 5;
            double y = topMargin + plotHeight - plotHeight * v / top;
            sb.Append(inv, $"  <line x1=\"{left}\" y1=\"{F(y)}\" x2=\"{width - right}\" y2=\"{F(y)}\" stroke=\"#ddd\"/>\n");
            sb.Append(inv, $"  <text x=\"{left - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{F(v)}</text>\n");
        }
        sb.Append(inv, $"  <text x=\"16\" y=\"{topMargin + plotHeight / 2}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {topMargin + plotHeight / 2})\">{E(axisLabel)}</text>\n");
        for (int g = 0; g < groups.Length; g++)
        {
            int x0 = left + g * groupWidth + gap / 2;
            for (int s = 0; s < series.Length; s++)
            {
                var hit = data.Where(d => d.Group == groups[g] && d.Series == series[s]).ToArray();
                if (hit.Length == 0) continue;
                double v = hit[0].Value;
                double h = plotHeight * v / top;
                double x = x0 + s * barWidth;
                double y = topMargin + plotHeight - h;
                sb.Append(inv, $"  <rect x=\"{F(x)}\" y=\"{F(y)}\" width=\"{barWidth - 4}\" height=\"{F(h)}\" fill=\"{Palette[s % Palette.Length]}\"><title>{E(groups[g])} / {E(series[s])}: {F(v)}</title></rect>\n");
                sb.Append(inv, $"  <text x=\"{F(x + (barWidth - 4) / 2.0)}\" y=\"{F(y - 4)}\" text-anchor=\"middle\" font-size=\"10\">{Label(v)}</text>\n");
            }
            sb.Append(inv, $"  <text x=\"{x0 + series.Length * barWidth / 2}\" y=\"{topMargin + plotHeight + 18}\" text-anchor=\"middle\">{E(groups[g])}</text>\n");
        }
        sb.Append(inv, $"  <line x1=\"{left}\" y1=\"{topMargin + plotHeight}\" x2=\"{width - right}\" y2=\"{topMargin + plotHeight}\" stroke=\"black\"/>\n");
        for (int s = 0; s < series.Length; s++)
        {
            int y = topMargin + plotHeight + 40 + 20 * s;
            sb.Append(inv, $"  <rect x=\"{left}\" y=\"{y - 10}\" width=\"12\" height=\"12\" fill=\"{Palette[s % Palette.Length]}\"/>\n");
            sb.Append(inv, $"  <text x=\"{left + 18}\" y=\"{y}\">{E(series[s])}</text>\n");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>1, 2 or 5 times a power of ten at or above <paramref name="v"/>, so ticks read well.</summary>
    private static double NiceCeiling(double v)
    {
        double p = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (double m in new[] { 1.0, 2.0, 5.0, 10.0 })
            if (m * p >= v) return m * p;
        return 10 * p;
    }
}
