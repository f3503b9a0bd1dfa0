using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Tests.Scheduling;

public class PreemptionCostTests
{
    [Fact]
    public void Swap_wins_for_long_sequences_and_recompute_for_short_ones()
    {
        // A 3090 over PCIe: a 16-token block of a 7B model in F16 (8 MiB) out and back at ~11 GB/s is
        // about 1.5 ms; prefill runs at ~0.1 ms per token, so 16 tokens cost ~1.6 ms to recompute.
        var cost = new PreemptionCost(SwapSecondsPerBlock: 1.5e-3, RecomputeSecondsPerToken: 0.1e-3);
        Assert.Equal(15e-3, cost.SwapSeconds(10), 12);
        Assert.Equal(16e-3, cost.RecomputeSeconds(160), 12);
        Assert.True(cost.PrefersSwap(blocks: 10, computedTokens: 160));
        Assert.False(cost.PrefersSwap(blocks: 10, computedTokens: 140));
    }

    [Fact]
    public void Without_a_measured_prefill_rate_recompute_is_chosen()
        => Assert.False(new PreemptionCost(1e-9, 0).PrefersSwap(blocks: 1, computedTokens: 1000));

    [Fact]
    public void The_prefill_rate_learns_from_prompt_heavy_steps_only()
    {
        // Decode-only step (one token per sequence): says nothing about prefill.
        Assert.Equal(0, PreemptionCost.ObservePrefillRate(0, 0.050, tokens: 8, sequences: 8));
        // First prompt-heavy step sets the rate; later ones move it a fifth of the way.
        double r = PreemptionCost.ObservePrefillRate(0, 0.100, tokens: 200, sequences: 2);
        Assert.Equal(0.5e-3, r, 12);
        r = PreemptionCost.ObservePrefillRate(r, 0.200, tokens: 200, sequences: 2);
        Assert.Equal(0.5e-3 + 0.2 * (1e-3 - 0.5e-3), r, 12);
        // A step that took no time (virtual or failed) is ignored.
        Assert.Equal(r, PreemptionCost.ObservePrefillRate(r, 0, tokens: 200, sequences: 2));
    }
}
