using Akka.Actor;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>Actors as clients of the gateway: Generate in, TokenChunk… then one final message back; a client's death cancels its request.</summary>
[Collection("cluster")]
public sealed class ActorClientTests
{
    /// <summary>Collects one request's replies; stops itself after <c>stopAfter</c> chunks when asked to.</summary>
    private sealed class Client : ReceiveActor
    {
        public Client(TaskCompletionSource<(List<TokenChunk> Chunks, object Final)> done, int stopAfter)
        {
            var chunks = new List<TokenChunk>();
            Receive<TokenChunk>(c =>
            {
                chunks.Add(c);
                if (chunks.Count == stopAfter) Context.Stop(Self);
            });
            Receive<GenerationCompleted>(f => done.TrySetResult((chunks, f)));
            Receive<GenerationRejected>(r => done.TrySetResult((chunks, r)));
        }
    }

    [Fact]
    public async Task An_actor_gets_its_chunks_in_order_then_one_final_message_under_its_own_id()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var request = ClusterHarness.Requests(1, 20, seed: 61)[0];
        var done = new TaskCompletionSource<(List<TokenChunk> Chunks, object Final)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var client = gateway.System.ActorOf(Props.Create(() => new Client(done, int.MaxValue)));
        gateway.Gateway!.Actor.Tell(request, client);

        var (chunks, final) = await done.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var completed = Assert.IsType<GenerationCompleted>(final);
        Assert.Equal(FinishReason.Length, completed.Reason);
        Assert.All(chunks, c => Assert.Equal(request.RequestId, c.RequestId));
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Index));
        Assert.Equal((await ClusterHarness.Reference([request]))[0].TokenIds, chunks.SelectMany(c => c.TokenIds));
    }

    [Fact]
    public async Task A_client_actor_that_dies_cancels_its_request_on_the_worker()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var worker = await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var request = ClusterHarness.Requests(1, 1900, seed: 62)[0];
        var never = new TaskCompletionSource<(List<TokenChunk> Chunks, object Final)>();
        var client = gateway.System.ActorOf(Props.Create(() => new Client(never, 3)));
        gateway.Gateway!.Actor.Tell(request, client);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var gauges = worker.Runtime!.Metrics.Replica(0);
        while ((await gateway.Gateway!.TopologyAsync()).Workers[0].Placed == 0 || gauges.Running + gauges.Waiting > 0 || (await gateway.Gateway!.TopologyAsync()).Workers[0].InFlight > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the dead client's request kept running");
            await Task.Delay(50);
        }
        Assert.False(never.Task.IsCompleted);
        // It was cancelled, not run to its end: far fewer than its 1,900 tokens were generated.
        Assert.True(worker.Runtime!.Metrics.GeneratedTotal < 1900, $"{worker.Runtime!.Metrics.GeneratedTotal} tokens generated");
    }
}
