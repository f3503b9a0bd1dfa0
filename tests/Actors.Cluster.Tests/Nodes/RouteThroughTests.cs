using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>LlmRuntime.RouteThrough(gateway): a runtime's own calls (and so its HTTP server) served through the cluster.</summary>
[Collection("cluster")]
public sealed class RouteThroughTests
{
    [Fact]
    public async Task A_runtime_routed_through_the_gateway_serves_its_calls_on_the_cluster_and_a_reader_that_stops_early_gets_its_final_message()
    {
        await using var harness = new ClusterHarness();
        var node = await harness.Start("both", null, "actors-runtime.request.stream-buffer = 2");
        await ClusterHarness.WaitForWorkers(node, 1);
        var runtime = node.Runtime!;
        runtime.RouteThrough(node.Gateway!);

        var whole = ClusterHarness.Requests(1, 12, seed: 81)[0];
        var result = await runtime.GenerateAsync(whole).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal((await ClusterHarness.Reference([whole]))[0].TokenIds, result.TokenIds);
        Assert.Equal(1, (await node.Gateway!.TopologyAsync()).Workers.Single().Placed);

        // A reader that stops: the bounded stream fills, the reader cancels, and its final message still comes.
        var (chunks, completion) = runtime.StreamWithCompletion(ClusterHarness.Requests(1, 1500, seed: 82)[0]);
        await foreach (var _ in chunks)
        {
            await Task.Delay(300); // the stream buffer (2 chunks) fills meanwhile
            break;                 // leaving the loop cancels the request
        }
        var final = await completion.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(FinishReason.Cancelled, final.Reason);
        Assert.True(final.Usage.CompletionTokens < 1500);
    }
}
