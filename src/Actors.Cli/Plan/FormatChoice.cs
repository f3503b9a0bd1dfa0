using System.Globalization;
using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;

namespace Actors.Cli.Plan;

/// <summary>
/// The weight format a plan uses and why: the one the user gave, or the most precise of the formats
/// people serve (F16 down to Q2_K; F32 and BF16 are left out: nobody serves F32, and BF16 costs what
/// F16 costs) for which some allowed layout fits. <see cref="Rejected"/> holds each more precise format
/// with its closest layout, to say by how much it missed.
/// </summary>
public sealed record FormatChoice(WeightFormat Format, bool Given, bool Fits, IReadOnlyList<(WeightFormat Format, LayoutEstimate Closest)> Rejected)
{
    public static readonly string[] Candidates = ["F16", "Q8_0", "Q6_K", "Q5_K", "Q4_K_M", "Q4_0", "Q3_K", "Q2_K"];

    /// <summary>One line for the report.</summary>
    public string Explanation(ModelShape model)
    {
        var inv = CultureInfo.InvariantCulture;
        string size = string.Create(inv, $"{Format.Name}, {Format.BitsPerWeight:0.##} bits per weight, {model.WeightBytes(Format) / 1e9:F1} GB of weights");
        if (Given) return size + " (as asked)";
        if (!Fits) return size + ": not even the smallest format fits";
        if (Rejected.Count == 0) return size + ": the most precise format, and it fits";
        var (tighter, closest) = Rejected[^1];
        return size + string.Create(inv, $": the most precise format that fits ({tighter.Name} is short by {closest.ShortfallGbPerDevice:F1} GB per device even as {closest.Layout})");
    }

    /// <summary>
    /// Picks the format: <paramref name="given"/> if not null, else the first candidate for which
    /// <paramref name="estimate"/> (the allowed layouts under that format) has a layout that fits.
    /// </summary>
    public static FormatChoice Choose(ModelCatalog models, WeightFormat? given, Func<WeightFormat, IReadOnlyList<LayoutEstimate>> estimate)
    {
        if (given is not null) return new FormatChoice(given, true, Planner.Best(estimate(given)) is not null, []);
        var rejected = new List<(WeightFormat, LayoutEstimate)>();
        WeightFormat? last = null;
        foreach (var name in Candidates.Where(models.Formats.ContainsKey))
        {
            var format = models.Format(name);
            var estimates = estimate(format);
            if (Planner.Best(estimates) is not null) return new FormatChoice(format, false, true, rejected);
            rejected.Add((format, Closest(estimates)));
            last = format;
        }
        return new FormatChoice(last ?? throw new CliException("the model catalog has none of the usual weight formats"), false, false, rejected);
    }

    /// <summary>The layout that misses by the least (or, when none is even buildable, the first).</summary>
    public static LayoutEstimate Closest(IReadOnlyList<LayoutEstimate> estimates)
        => estimates.Where(e => e.ShortfallGbPerDevice > 0).MinBy(e => e.ShortfallGbPerDevice) ?? estimates[0];
}
