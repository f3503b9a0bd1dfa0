using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>A gateway and workers as separate ActorSystems on loopback: requests cross Akka.Remote both ways.</summary>
[Collection("cluster")]
public sealed class ClusterRoutingTests
{
    [Fact]
    public async Task Requests_through_a_gateway_spread_over_two_workers_and_equal_a_single_node_run()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var w1 = await harness.Start("worker", gateway);
        var w2 = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 2);

        var requests = ClusterHarness.Requests(8, 24, seed: 11);
        var expected = await ClusterHarness.Reference(requests);
        var results = await Task.WhenAll(requests.Select(r => gateway.Gateway!.GenerateAsync(r))).WaitAsync(TimeSpan.FromSeconds(60));

        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(expected[i].TokenIds, results[i].TokenIds);
            Assert.Equal(expected[i].Text, results[i].Text);
            Assert.Equal(requests[i].RequestId, results[i].Completed.RequestId);
            Assert.Equal(new Usage(24, 24, 0), results[i].Completed.Usage with { CachedPromptTokens = 0 });
        }
        var topology = await gateway.Gateway!.TopologyAsync();
        Assert.Equal(3, topology.Nodes.Length);
        Assert.Equal(2, topology.Workers.Length);
        Assert.All(topology.Workers, w => Assert.True(w.Placed >= 2, $"{w.Address} took {w.Placed} of 8 requests"));
        Assert.Equal(8, topology.Workers.Sum(w => w.Placed));
        Assert.Equal(8 * 24, topology.Workers.Sum(w => w.TokensRelayed));
        Assert.Equal(0, topology.Readmitted);
        // The gateway probes the path to each worker when it joins and every second after.
        Assert.All(topology.Workers, w => Assert.True(w.RoundTripMs is > 0 and < 5000, $"{w.Address}: rtt {w.RoundTripMs} ms"));
        var lines = ClusterTopologyClient.Describe(topology).ToList();
        Assert.Contains(lines, l => l.StartsWith("nodes (3)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("workers (2;", StringComparison.Ordinal));
        Assert.Equal(2, lines.Count(l => l.StartsWith("  akka.tcp://actors@127.0.0.1:", StringComparison.Ordinal) && l.EndsWith(" ms", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Requests_sharing_a_prompt_prefix_go_to_the_worker_that_cached_it_though_another_is_less_loaded()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var workers = new[] { await harness.Start("worker", gateway), await harness.Start("worker", gateway) };
        await ClusterHarness.WaitForWorkers(gateway, 2);

        var rng = new Random(3);
        int[] prefix = Enumerable.Range(0, 48).Select(_ => 3 + rng.Next(300)).ToArray();
        Generate Shared(int i) => ClusterHarness.Requests(1, 4, seed: 100 + i, promptLength: 8, sharedPrefix: prefix)[0] with { RequestId = $"shared{i}" };
        await gateway.Gateway!.GenerateAsync(Shared(0)).WaitAsync(TimeSpan.FromSeconds(30));
        var first = (await gateway.Gateway!.TopologyAsync()).Workers.Single(w => w.Placed == 1).Address;
        int x = workers[0].Address.ToString() == first ? 0 : 1;

        // Load the prefix's worker with a long request of its own (not through the gateway): by load alone the
        // other worker would now win every placement.
        using var stopBusy = new CancellationTokenSource();
        var busy = workers[x].Runtime!.GenerateAsync(ClusterHarness.Requests(1, 1900, seed: 9)[0] with { RequestId = "busy" }, stopBusy.Token);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while ((await gateway.Gateway!.TopologyAsync()).Workers.Single(w => w.Address == first).Status.Running == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the busy request never showed in the worker's load report");
            await Task.Delay(20);
        }
        long hitsBefore = Interlocked.Read(ref workers[x].Runtime!.Metrics.Replica(0).PrefixHits);
        for (int i = 1; i <= 3; i++) await gateway.Gateway!.GenerateAsync(Shared(i)).WaitAsync(TimeSpan.FromSeconds(30));
        var other = ClusterHarness.Requests(1, 4, seed: 77, promptLength: 56)[0];
        await gateway.Gateway!.GenerateAsync(other).WaitAsync(TimeSpan.FromSeconds(30));

        var topology = await gateway.Gateway!.TopologyAsync();
        Assert.Equal(4, topology.Workers.Single(w => w.Address == first).Placed);  // every shared-prefix request
        Assert.Equal(1, topology.Workers.Single(w => w.Address != first).Placed);  // the unrelated one went by load
        Assert.True(Interlocked.Read(ref workers[x].Runtime!.Metrics.Replica(0).PrefixHits) > hitsBefore, "the shared prefix's cached blocks were not hit");
        stopBusy.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => busy);
    }

    [Fact]
    public async Task A_request_no_worker_can_take_gets_a_terminal_rejection_and_nothing_hangs()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null, "actors-cluster.gateway.placement-timeout = 500ms");
        var request = ClusterHarness.Requests(1, 4, seed: 5)[0];
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() => gateway.Gateway!.GenerateAsync(request).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(RejectionReason.QueueFull, ex.Rejected.Reason);
        Assert.Contains("no worker", ex.Rejected.Message);
        Assert.Equal(1, (await gateway.Gateway!.TopologyAsync()).FailedTerminally);
    }

    [Fact]
    public async Task A_prompt_too_large_for_an_akka_remote_frame_is_refused_naming_the_setting_instead_of_lost()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var huge = new Generate { RequestId = "huge", PromptTokens = Enumerable.Range(0, 70_000).Select(i => 256 + i % 60).ToArray(), MaxTokens = 2 };
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() => gateway.Gateway!.GenerateAsync(huge).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(RejectionReason.PromptTooLong, ex.Rejected.Reason);
        Assert.Contains("akka.remote.dot-netty.tcp.maximum-frame-size", ex.Rejected.Message);
        Assert.Contains("70000 tokens", ex.Rejected.Message);
    }

    [Fact]
    public async Task A_gateway_rejects_bad_requests_itself_naming_the_field()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("both", null);
        var bad = new Generate { RequestId = "x", PromptTokens = [1, 999999], MaxTokens = 2 };
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() => gateway.Gateway!.GenerateAsync(bad).WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(RejectionReason.InvalidParameters, ex.Rejected.Reason);
        Assert.Contains("prompt token 999999 at position 1", ex.Rejected.Message);
        // The same node is a worker too: a good text prompt runs there.
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var ok = await gateway.Gateway!.GenerateAsync(new Generate { RequestId = "y", Prompt = "hello world", MaxTokens = 3, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } })
            .WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(3, ok.TokenIds.Count);
    }
}

[CollectionDefinition("cluster", DisableParallelization = true)]
public sealed class ClusterCollection;

[Collection("cluster")]
public sealed class TwoGatewayTests
{
    [Fact]
    public async Task Two_gateways_both_route_to_every_worker_and_see_load_they_did_not_place_in_the_reports()
    {
        await using var harness = new ClusterHarness();
        var g1 = await harness.Start("gateway", null);
        var g2 = await harness.Start("gateway", g1);
        var w1 = await harness.Start("worker", g1);
        var w2 = await harness.Start("worker", g2);
        await ClusterHarness.WaitForWorkers(g1, 2);
        await ClusterHarness.WaitForWorkers(g2, 2);

        // Three long requests of w1's own (no gateway placed them): both gateways learn them from w1's reports.
        using var stop = new CancellationTokenSource();
        var busy = ClusterHarness.Requests(3, 1900, seed: 71).Select(r => w1.Runtime!.GenerateAsync(r, stop.Token)).ToArray();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        foreach (var g in new[] { g1, g2 })
            while ((await g.Gateway!.TopologyAsync()).Workers.Single(w => w.Address == w1.Address.ToString()).Status.Running < 3)
            {
                Assert.True(DateTime.UtcNow < deadline, "a gateway never saw w1's requests in its load report");
                await Task.Delay(20);
            }
        var requests = ClusterHarness.Requests(4, 8, seed: 72);
        for (int i = 0; i < requests.Count; i++)
            await (i % 2 == 0 ? g1 : g2).Gateway!.GenerateAsync(requests[i]).WaitAsync(TimeSpan.FromSeconds(30));
        foreach (var g in new[] { g1, g2 })
        {
            var seen = await g.Gateway!.TopologyAsync();
            Assert.Equal(0, seen.Workers.Single(w => w.Address == w1.Address.ToString()).Placed);
            Assert.Equal(2, seen.Workers.Single(w => w.Address == w2.Address.ToString()).Placed);
        }
        stop.Cancel();
        foreach (var b in busy) await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b);
    }
}
