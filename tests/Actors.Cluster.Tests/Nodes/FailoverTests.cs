using System.Collections.Concurrent;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>Workers lost and gained under load: no request is lost, none sees a token twice or misses one.</summary>
[Collection("cluster")]
public sealed class FailoverTests
{
    [Fact]
    public async Task A_crashed_worker_s_requests_resume_on_the_other_with_every_token_once_and_greedy_output_unchanged()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var w1 = await harness.Start("worker", gateway);
        var w2 = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 2);

        var requests = ClusterHarness.Requests(16, 400, seed: 21);
        var expected = await ClusterHarness.Reference(requests);
        var streamed = new ConcurrentDictionary<string, int>();
        var indices = new ConcurrentDictionary<string, List<int>>();
        async Task<(List<int> Tokens, string Text)> Consume(Generate r)
        {
            var tokens = new List<int>();
            var text = new System.Text.StringBuilder();
            var seen = indices.GetOrAdd(r.RequestId, _ => []);
            await foreach (var chunk in gateway.Gateway!.StreamAsync(r))
            {
                Assert.Equal(r.RequestId, chunk.RequestId);
                seen.Add(chunk.Index);
                tokens.AddRange(chunk.TokenIds);
                text.Append(chunk.Text);
                streamed[r.RequestId] = tokens.Count;
            }
            return (tokens, text.ToString());
        }
        var runs = requests.Select(r => Task.Run(() => Consume(r))).ToArray();

        // Kill w1 once every request has streamed something and w1 holds some of them.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (streamed.Count < requests.Count || streamed.Values.Min() < 8)
        {
            Assert.True(DateTime.UtcNow < deadline, "the requests did not start streaming");
            await Task.Delay(5);
        }
        var before = await gateway.Gateway!.TopologyAsync();
        int heldByW1 = before.Workers.Single(w => w.Address == w1.Address.ToString()).InFlight;
        await ClusterHarness.Crash(w1);

        var outputs = await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(90));
        var after = await gateway.Gateway!.TopologyAsync();
        Assert.True(heldByW1 > 0, "w1 held no request when it was killed (the test did not exercise failover)");
        Assert.Equal(heldByW1, after.Readmitted);
        Assert.True(after.ReadmittedTokens >= 8 * heldByW1, $"{after.ReadmittedTokens} tokens resumed for {heldByW1} requests");
        Assert.Equal(0, after.FailedTerminally);
        Assert.False(double.IsNaN(after.LastFailoverMs));
        Assert.Single(after.Workers);
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(expected[i].TokenIds, outputs[i].Tokens);
            Assert.Equal(expected[i].Text, outputs[i].Text);
            Assert.Equal(Enumerable.Range(0, indices[requests[i].RequestId].Count), indices[requests[i].RequestId]);
        }
    }

    [Fact]
    public async Task A_worker_joining_under_load_takes_new_requests_at_once()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var w1 = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var first = ClusterHarness.Requests(8, 300, seed: 31);
        var firstRuns = first.Select(r => gateway.Gateway!.GenerateAsync(r)).ToArray();

        var w2 = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 2);
        var second = ClusterHarness.Requests(6, 40, seed: 32);
        var results = await Task.WhenAll(second.Select(r => gateway.Gateway!.GenerateAsync(r))).WaitAsync(TimeSpan.FromSeconds(60));
        await Task.WhenAll(firstRuns).WaitAsync(TimeSpan.FromSeconds(60));

        var topology = await gateway.Gateway!.TopologyAsync();
        // w1 is busy with 8 long requests: every new one goes to the idle newcomer until it holds as many.
        Assert.Equal(6, topology.Workers.Single(w => w.Address == w2.Address.ToString()).Placed);
        var expected = await ClusterHarness.Reference(second);
        for (int i = 0; i < second.Count; i++) Assert.Equal(expected[i].TokenIds, results[i].TokenIds);
    }

    [Fact]
    public async Task Requests_of_a_worker_lost_with_no_other_end_with_one_terminal_reply_each()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null, "actors-cluster.gateway.placement-timeout = 1s");
        var w1 = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var requests = ClusterHarness.Requests(4, 1500, seed: 41);
        var streamed = new ConcurrentDictionary<string, int>();
        var runs = requests.Select(r => Task.Run(async () =>
        {
            int n = 0;
            await foreach (var chunk in gateway.Gateway!.StreamAsync(r)) streamed[r.RequestId] = n += chunk.TokenIds.Length;
        })).ToArray();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (streamed.Count < requests.Count)
        {
            Assert.True(DateTime.UtcNow < deadline, "the requests did not start streaming");
            await Task.Delay(5);
        }
        await ClusterHarness.Crash(w1);
        // Each stream ends (the gateway's error completes it) instead of hanging.
        await Task.WhenAll(runs).WaitAsync(TimeSpan.FromSeconds(30));
        var finals = await Task.WhenAll(requests.Select(r => gateway.Gateway!.GenerateAsync(r with { RequestId = r.RequestId + "-late" })
            .ContinueWith(t => t.Exception?.InnerException))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.All(finals, ex => Assert.IsType<GenerationRejectedException>(ex));
        Assert.Equal(4 + 4, (await gateway.Gateway!.TopologyAsync()).FailedTerminally);
    }
}
