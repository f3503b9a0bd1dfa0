using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;
using Xunit;

namespace Actors.Simulation.Tests;

public class TimelineTests
{
    [Theory]
    [InlineData(SharingPolicy.Serialize)]
    [InlineData(SharingPolicy.FairShare)]
    public void A_transfer_never_ends_before_its_start_plus_latency_plus_wire_time(SharingPolicy policy)
    {
        var t = new ResourceTimeline("link", 10e9, 15e-6, policy);
        var rng = new Actors.Inference.Synthetic.DeterministicRandom(7);
        for (int i = 0; i < 200; i++) t.Submit(rng.NextDouble() * 1e-3, rng.NextInt(1 << 20));
        foreach (var x in t.Transfers)
        {
            Assert.True(x.Start >= x.ReadyAt, $"transfer {x.Id} starts before it is ready");
            Assert.True(x.End >= x.Start + 15e-6 + x.Bytes / 10e9 - 1e-15, $"transfer {x.Id} ends too early");
        }
    }

    [Fact]
    public void Contention_serializes_transfers_on_one_link()
    {
        var t = new ResourceTimeline("link", 1e9, 1e-6, SharingPolicy.Serialize);
        int a = t.Submit(0, 1_000_000);      // 1 ms of wire time
        int b = t.Submit(0, 1_000_000);
        Assert.Equal(0.001001, t[a].End, 12);
        Assert.Equal(t[a].End, t[b].Start, 12);
        Assert.Equal(0.002002, t[b].End, 12);
    }

    [Fact]
    public void A_later_submission_that_was_ready_earlier_goes_first()
    {
        var t = new ResourceTimeline("link", 1e9, 0, SharingPolicy.Serialize);
        int late = t.Submit(0.5e-3, 1_000_000);
        int early = t.Submit(0, 1_000_000);
        Assert.Equal(0, t[early].Start);
        Assert.Equal(1e-3, t[late].Start, 12);
    }

    [Fact]
    public void Fair_share_splits_bandwidth_between_concurrent_transfers()
    {
        var t = new ResourceTimeline("bridge", 1e9, 1e-6, SharingPolicy.FairShare);
        int a = t.Submit(0, 1_000_000);
        int b = t.Submit(0, 1_000_000);
        // Both ready at once: each gets half, both end at latency + 2 ms.
        Assert.Equal(0.002001, t[a].End, 9);
        Assert.Equal(0.002001, t[b].End, 9);
        // A transfer alone afterwards is unaffected.
        int c = t.Submit(1.0, 1_000_000);
        Assert.Equal(1.001001, t[c].End, 9);
    }

    [Fact]
    public void Fair_share_with_a_late_arrival_matches_hand_computed_times()
    {
        var t = new ResourceTimeline("bridge", 1e9, 0, SharingPolicy.FairShare);
        int a = t.Submit(0, 2_000_000);        // alone for 1 ms (1 MB done), then shares
        int b = t.Submit(0.001, 500_000);      // shares 0.5 GB/s: 1 ms, ends at 2 ms
        Assert.Equal(0.002, t[b].End, 9);
        Assert.Equal(0.0025, t[a].End, 9);     // 0.5 MB left at 2 ms, alone again: +0.5 ms
    }

    [Fact]
    public void Host_staged_copies_of_two_pairs_contend_for_the_host_bridge()
    {
        var staged = HardwareCatalog.Default.Link("host-staged-pcie4");
        var p = new PathTimeline();
        var first = p.Submit(0, 64 << 20, staged.EffectiveBandwidth, staged.LatencySeconds, "gpu0-port", "host-bridge", "gpu2-port");
        var second = p.Submit(0, 64 << 20, staged.EffectiveBandwidth, staged.LatencySeconds, "gpu1-port", "host-bridge", "gpu3-port");
        Assert.Equal(first.End, second.Start, 12);
        Assert.True(second.End >= second.Start + staged.LatencySeconds);
        // On disjoint resources (NVLink bridges) they overlap.
        var q = new PathTimeline();
        var x = q.Submit(0, 64 << 20, 45e9, 1.5e-6, "nvlink-0-1");
        var y = q.Submit(0, 64 << 20, 45e9, 1.5e-6, "nvlink-2-3");
        Assert.Equal(x.Start, y.Start);
    }

    [Fact]
    public void Same_submissions_give_the_same_schedule()
    {
        static IReadOnlyList<TimedTransfer> Run()
        {
            var t = new ResourceTimeline("l", 5e9, 2e-6, SharingPolicy.FairShare);
            var rng = new Actors.Inference.Synthetic.DeterministicRandom(42);
            for (int i = 0; i < 50; i++) t.Submit(rng.NextDouble() * 1e-4, rng.NextInt(100_000));
            return t.Transfers.ToArray();
        }
        Assert.Equal(Run(), Run());
    }
}
