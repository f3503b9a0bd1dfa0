namespace Actors.Runtime.Scheduling;

/// <summary>
/// What it costs to take a victim's KV off the device and bring it back, both ways, so that
/// <see cref="PreemptionMode.Auto"/> can pick per victim. Swapping moves every block out and later in
/// over the device's host path; recomputing runs its computed tokens through a prefill again.
/// Short sequences are cheaper to recompute (a prefill of a few hundred tokens on a GPU takes less
/// than moving their pages twice over PCIe); long ones on a slow device are cheaper to swap.
/// </summary>
/// <param name="SwapSecondsPerBlock">One block out to host memory and back in (all stages' shares, which copy in parallel).</param>
/// <param name="RecomputeSecondsPerToken">Prefill time per token as measured on recent steps; 0 while unknown.</param>
public readonly record struct PreemptionCost(double SwapSecondsPerBlock, double RecomputeSecondsPerToken)
{
    public double SwapSeconds(int blocks) => blocks * SwapSecondsPerBlock;

    public double RecomputeSeconds(int computedTokens) => computedTokens * RecomputeSecondsPerToken;

    /// <summary>
    /// The prefill rate after one more step: only steps that are mostly prompt tokens say what a
    /// recompute costs (decode tokens are memory-bound and cost far more each), averaged
    /// exponentially so the estimate follows the load without jumping on one noisy step.
    /// </summary>
    public static double ObservePrefillRate(double current, double stepSeconds, int tokens, int sequences)
    {
        if (tokens < 2 * sequences || tokens == 0 || !(stepSeconds > 0)) return current;
        double perToken = stepSeconds / tokens;
        return current > 0 ? current + 0.2 * (perToken - current) : perToken;
    }

    /// <summary>
    /// True when swapping is estimated cheaper. Without a measured prefill rate there is nothing to
    /// compare against, and recompute (vLLM's default, no host memory held) wins.
    /// </summary>
    public bool PrefersSwap(int blocks, int computedTokens) =>
        RecomputeSecondsPerToken > 0 && SwapSeconds(blocks) < RecomputeSeconds(computedTokens);
}
