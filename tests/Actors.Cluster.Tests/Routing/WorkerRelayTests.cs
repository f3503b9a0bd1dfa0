using Akka.Actor;
using Actors.Cluster.Internal;
using Actors.Cluster.Protocol;
using Actors.Runtime.Protocol;
using MessagePack;

namespace Actors.Cluster.Tests.Routing;

/// <summary>A worker's outbox and per-request writers without actors: batching, the frame bound, the window.</summary>
public sealed class WorkerRelayTests
{
    private static readonly IActorRef GatewayA = new FakeRef("a"), GatewayB = new FakeRef("b");

    /// <summary>Stands for a gateway: only its identity matters to the outbox.</summary>
    private sealed class FakeRef(string name) : MinimalActorRef
    {
        public override ActorPath Path { get; } = new RootActorPath(new Address("akka", "test")) / name;
        public override IActorRefProvider Provider => throw new NotSupportedException();
    }

    private static TokenChunk Chunk(string id, int index) => new(id, index, [3 + index], $"t{index}", null);

    [Fact]
    public void A_step_s_chunks_of_many_requests_leave_as_one_batch_per_gateway_with_finals_after_chunks()
    {
        var outbox = new WorkerOutbox(ActorRefs.Nobody, window: 8);
        var writers = Enumerable.Range(0, 16).Select(i => new RelayWriter($"r{i}", i % 2 == 0 ? GatewayA : GatewayB, outbox)).ToList();
        foreach (var w in writers) Assert.True(w.TryWrite(Chunk(w.AttemptId, 0)));
        outbox.AddFinal(GatewayA, new GenerationCompleted("r0", FinishReason.Length, new Usage(1, 1, 0), new Timings(0, 0, 0, [1.5]), null));
        outbox.AddFinal(GatewayB, new GenerationRejected("r1", RejectionReason.QueueFull, "full"));

        var batches = outbox.TakeBatches();
        Assert.Equal(2, batches.Count);
        var a = batches.Single(b => b.Gateway.Equals(GatewayA)).Batch;
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"r{2 * i}"), a.Chunks.Select(c => c.RequestId));
        Assert.Equal("r0", Assert.Single(a.Completed).RequestId);
        Assert.Equal(8, a.Window);
        var b = batches.Single(b => b.Gateway.Equals(GatewayB)).Batch;
        Assert.Equal(8, b.Chunks.Length);
        Assert.Equal("r1", Assert.Single(b.Rejected).RequestId);
        Assert.Empty(outbox.TakeBatches()); // taken
    }

    [Fact]
    public void A_batch_stays_inside_akka_remote_s_frame_however_many_long_finals_it_holds()
    {
        var outbox = new WorkerOutbox(ActorRefs.Nobody, window: 64);
        var rng = new Random(3);
        var gaps = Enumerable.Range(0, WorkerOutbox.MaxRelayedInterTokenGaps).Select(_ => rng.NextDouble() * 100).ToArray();
        for (int i = 0; i < 5; i++)
        {
            var w = new RelayWriter($"long-{i}", GatewayA, outbox);
            for (int k = 0; k < 40; k++) w.TryWrite(Chunk(w.AttemptId, k));
            for (int k = 0; k < 40; k++) w.Credit(1);
            outbox.AddFinal(GatewayA, new GenerationCompleted($"long-{i}", FinishReason.Length, new Usage(1, 9000, 0), new Timings(0, 0, 0, gaps), null));
        }
        // Over the kept gaps: the final goes without them rather than over the frame.
        outbox.AddFinal(GatewayA, new GenerationCompleted("huge", FinishReason.Length, new Usage(1, 20000, 0), new Timings(0, 0, 0, new double[20000]), null));

        var batches = outbox.TakeBatches().Select(b => b.Batch).ToList();
        var options = MessagePackSerializerOptions.Standard;
        Assert.All(batches, b => Assert.True(MessagePackSerializer.Serialize(b, options).Length < 128_000 - 4096));
        Assert.Equal(200, batches.Sum(b => b.Chunks.Length));
        Assert.Equal(6, batches.Sum(b => b.Completed.Length));
        Assert.Empty(batches.SelectMany(b => b.Completed).Single(c => c.RequestId == "huge").Timings.InterTokenMs);
        // Every request's chunks come before its final, across batches too.
        var order = batches.SelectMany(b => b.Chunks.Select(c => (c.RequestId, Final: false)).Concat(b.Completed.Select(c => (c.RequestId, Final: true)))).ToList();
        for (int i = 0; i < 5; i++)
            Assert.True(order.FindLastIndex(o => o == ($"long-{i}", false)) < order.IndexOf(($"long-{i}", true)));
    }

    [Fact]
    public async Task A_request_with_a_window_of_unacknowledged_chunks_is_refused_more_until_credited()
    {
        var outbox = new WorkerOutbox(ActorRefs.Nobody, window: 3);
        var w = new RelayWriter("r", GatewayA, outbox);
        for (int i = 0; i < 3; i++) Assert.True(w.TryWrite(Chunk("r", i)));
        Assert.False(w.TryWrite(Chunk("r", 3))); // the runtime pauses the sequence here
        var room = w.WaitToWriteAsync().AsTask();
        Assert.False(room.IsCompleted);
        w.Credit(2);
        Assert.True(await room.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(1, w.Unacknowledged);
        Assert.True(w.TryWrite(Chunk("r", 3)));
        Assert.True(w.TryWrite(Chunk("r", 4)));
        Assert.False(w.TryWrite(Chunk("r", 5)));
        var closed = w.WaitToWriteAsync().AsTask();
        w.TryComplete();
        Assert.False(await closed.WaitAsync(TimeSpan.FromSeconds(5))); // completed: no more room will come
        Assert.Equal(5, outbox.TakeBatches().Single().Batch.Chunks.Length);
    }
}
