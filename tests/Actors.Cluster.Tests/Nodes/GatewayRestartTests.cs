using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>A gateway that dies: its clients get errors, its workers drop its requests, a new gateway is served.</summary>
[Collection("cluster")]
public sealed class GatewayRestartTests
{
    [Fact]
    public async Task A_crashed_gateway_ends_its_clients_streams_its_workers_drop_its_requests_and_a_new_gateway_is_served()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var w1 = await harness.Start("worker", gateway);
        var w2 = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 2);

        var requests = ClusterHarness.Requests(4, 1500, seed: 51);
        var firstChunk = requests.Select(_ => new TaskCompletionSource()).ToArray();
        var runs = requests.Select((r, i) => Task.Run(async () =>
        {
            try
            {
                await foreach (var _ in gateway.Gateway!.StreamAsync(r)) firstChunk[i].TrySetResult();
                return "ended";
            }
            catch (Exception ex)
            {
                return ex.GetType().Name;
            }
        })).ToArray();
        await Task.WhenAll(firstChunk.Select(t => t.Task)).WaitAsync(TimeSpan.FromSeconds(30));
        await ClusterHarness.Crash(gateway);

        // Every client stream ends (the gateway's last act is a terminal reply to each), none hangs.
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(20));
        // Each worker's agent watched the gateway: its death cancels its requests there.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (new[] { w1, w2 }.Sum(w => w.Runtime!.Metrics.Replica(0).Running + w.Runtime!.Metrics.Replica(0).Waiting) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the workers kept generating for a dead gateway");
            await Task.Delay(50);
        }

        var next = await harness.Start("gateway", w1);
        await ClusterHarness.WaitForWorkers(next, 2);
        var request = ClusterHarness.Requests(1, 16, seed: 52)[0];
        var result = await next.Gateway!.GenerateAsync(request).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((await ClusterHarness.Reference([request]))[0].TokenIds, result.TokenIds);
    }
}
