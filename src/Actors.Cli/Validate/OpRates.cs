namespace Actors.Cli.Validate;

/// <summary>What <see cref="OpProbe"/> measured: attention FLOP/s, elementwise bytes/s, seconds per parallel operation.</summary>
public sealed record OpRates(double AttentionFlops, double ElementwiseBandwidth, double DispatchSeconds)
{
    public static OpRates Measure(int threads, int context)
        => new(OpProbe.AttentionFlops(threads, context), OpProbe.ElementwiseBandwidth(threads), OpProbe.DispatchSeconds(threads));

    /// <summary>The better of two measurements of each figure (interference only slows a measurement down).</summary>
    public static OpRates Better(OpRates a, OpRates b)
        => new(Math.Max(a.AttentionFlops, b.AttentionFlops), Math.Max(a.ElementwiseBandwidth, b.ElementwiseBandwidth), Math.Min(a.DispatchSeconds, b.DispatchSeconds));
}
