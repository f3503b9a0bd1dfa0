using Actors.Simulation.Catalog;

namespace Actors.Cli.Validate;

/// <summary>The three numbers a measured CPU entry leaves to calibrate.</summary>
/// <param name="MemoryEfficiency">Fraction of the measured read bandwidth the backend's streaming kernels reach.</param>
/// <param name="ComputeEfficiency">Fraction of the measured FMA peak its matmuls reach.</param>
/// <param name="LaunchOverheadSeconds">Fixed cost of one parallel operation (the worker pool's fork and join).</param>
public sealed record CalibratedFactors(double MemoryEfficiency, double ComputeEfficiency, double LaunchOverheadSeconds)
{
    public GpuSpec Apply(GpuSpec device) => device with
    {
        MemoryEfficiency = MemoryEfficiency,
        ComputeEfficiency = ComputeEfficiency,
        LaunchOverheadSeconds = LaunchOverheadSeconds,
    };
}

/// <summary>
/// Fits <see cref="CalibratedFactors"/> so that ONE device entry predicts every case: it minimises the
/// worst relative error, |ln(predicted / measured)|, over all cases at once (a coarse log-spaced grid,
/// then three finer grids around the best point). Efficiencies stay in (0, 1]: a fit that needed more
/// than the measured machine would be hiding an error, not calibrating one.
/// </summary>
public static class Calibration
{
    public static CalibratedFactors Fit<T>(IReadOnlyList<T> cases, Func<T, double> measuredSeconds, Func<T, GpuSpec, double> predictedSeconds, GpuSpec device)
    {
        if (cases.Count == 0) throw new ArgumentException("nothing to calibrate on");
        double WorstError(double mem, double comp, double launch)
        {
            var d = device with { MemoryEfficiency = mem, ComputeEfficiency = comp, LaunchOverheadSeconds = launch };
            double worst = 0;
            foreach (var c in cases) worst = Math.Max(worst, Math.Abs(Math.Log(predictedSeconds(c, d) / measuredSeconds(c))));
            return worst;
        }

        // Ranges: efficiencies 1%..100%; launch 0.1 µs..10 ms (log), plus exactly 0.
        (double Lo, double Hi) mem = (Math.Log(0.01), 0), comp = (Math.Log(0.01), 0), launch = (Math.Log(1e-7), Math.Log(1e-2));
        var best = (Mem: 1.0, Comp: 1.0, Launch: 0.0);
        double bestError = WorstError(1, 1, 0);
        for (int round = 0; round < 4; round++)
        {
            const int steps = 24;
            for (int i = 0; i <= steps; i++)
                for (int j = 0; j <= steps; j++)
                    for (int k = -1; k <= steps; k++)
                    {
                        double m = Math.Exp(mem.Lo + (mem.Hi - mem.Lo) * i / steps);
                        double c = Math.Exp(comp.Lo + (comp.Hi - comp.Lo) * j / steps);
                        double l = k < 0 ? 0 : Math.Exp(launch.Lo + (launch.Hi - launch.Lo) * k / steps);
                        double e = WorstError(m, c, l);
                        if (e < bestError) (bestError, best) = (e, (m, c, l));
                    }
            // Zoom in: a quarter of the current span around the best point, clamped to the allowed ranges.
            mem = Around(Math.Log(best.Mem), (mem.Hi - mem.Lo) / 4, Math.Log(0.01), 0);
            comp = Around(Math.Log(best.Comp), (comp.Hi - comp.Lo) / 4, Math.Log(0.01), 0);
            launch = Around(Math.Log(Math.Max(best.Launch, 1e-7)), (launch.Hi - launch.Lo) / 4, Math.Log(1e-7), Math.Log(1e-2));
        }
        return new CalibratedFactors(best.Mem, best.Comp, best.Launch);
    }

    private static (double, double) Around(double center, double span, double min, double max)
        => (Math.Max(min, center - span / 2), Math.Min(max, center + span / 2));
}
