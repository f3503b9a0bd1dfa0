using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// Every request ends with one terminal reply and leaves nothing behind (request actor, router entry,
/// KV blocks), whatever its client does: stops reading, cancels after the end, disconnects while
/// paused, or the request actor itself fails.
/// </summary>
public sealed class RequestEndTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static Generate Long(string id, int maxTokens = 300) => new()
    {
        RequestId = id,
        PromptTokens = [5, 6, 7, 8, 9, 10],
        MaxTokens = maxTokens,
        Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
    };

    /// <summary>The router's children (one request actor per request in progress).</summary>
    private int RequestActors(RuntimeHarness h)
    {
        var probe = CreateTestProbe(h.System);
        h.System.ActorSelection(h.Runtime.Router.Path.ToStringWithoutAddress() + "/*").Tell(new Identify(1), probe.Ref);
        int count = 0;
        // No match answers one identity without a subject.
        while (probe.ReceiveOne(TimeSpan.FromMilliseconds(300)) is ActorIdentity identity)
            if (identity.Subject is not null) count++;
        return count;
    }

    private void AwaitNoRequestActors(RuntimeHarness h) =>
        AwaitAssert(() => Assert.Equal(0, RequestActors(h)), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(100));

    private RequestActorRef FirstRequestActor(RuntimeHarness h)
    {
        var probe = CreateTestProbe(h.System);
        h.System.ActorSelection(h.Runtime.Router.Path.ToStringWithoutAddress() + "/*").Tell(new Identify(1), probe.Ref);
        return new RequestActorRef(probe.ExpectMsg<ActorIdentity>(TimeSpan.FromSeconds(5)).Subject!);
    }

    private sealed record RequestActorRef(IActorRef Actor);

    [Fact]
    public async Task A_request_actor_that_fails_still_completes_its_stream_with_an_error_and_frees_its_blocks()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.request.stream-buffer = 1"));
        var (chunks, completion) = h.Runtime.StreamWithCompletion(Long("killed", 3000));
        await using (var e = chunks.GetAsyncEnumerator())
        {
            Assert.True(await e.MoveNextAsync());
            FirstRequestActor(h).Actor.Tell(Kill.Instance); // an ActorKilledException: the router's strategy stops it
            var done = await completion.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(FinishReason.Error, done.Reason);
            Assert.Contains("stopped before it finished", done.Error);
        }
        AwaitNoRequestActors(h);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public async Task An_exception_while_starting_a_request_rejects_it_instead_of_leaving_it_unanswered()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() =>
            h.Runtime.GenerateAsync(Long("null-sampling") with { Sampling = null! }).WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(RejectionReason.InternalError, ex.Rejected.Reason);
        Assert.Contains("NullReferenceException", ex.Rejected.Message);
        AwaitNoRequestActors(h);
    }

    [Fact]
    public async Task A_cancel_after_the_sequence_finished_still_stops_the_request_actor_whose_reader_is_gone()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.request.stream-buffer = 1"));
        // Two tokens into a buffer of one that nobody reads: the second does not fit, and the sequence
        // finishes in that same step with a chunk still held by its request actor.
        var (_, completion) = h.Runtime.StreamWithCompletion(Long("unread", 2));
        await Task.Delay(1000);
        h.AwaitAllBlocksFree(this); // finished: blocks back
        Assert.Equal(1, RequestActors(h));
        h.Runtime.Router.Tell(new Cancel("unread"));
        AwaitNoRequestActors(h);
        Assert.Equal(FinishReason.Length, (await completion.WaitAsync(TimeSpan.FromSeconds(5))).Reason);
    }

    [Fact]
    public async Task A_client_that_disconnects_while_paused_frees_its_actor_router_entry_and_blocks()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.request.stream-buffer = 1"));
        await using (var e = h.Runtime.StreamAsync(Long("paused", 3000)).GetAsyncEnumerator())
        {
            Assert.True(await e.MoveNextAsync());
            await Task.Delay(300); // the buffer fills: the sequence pauses, holding its blocks
            Assert.True(h.Runtime.Metrics.Replica(0).BlocksUsed > 0);
        } // disposing the reader mid-stream is a disconnect: the runtime is told to cancel
        AwaitNoRequestActors(h);
        h.AwaitAllBlocksFree(this);
        // The router forgot the id: it may be used again.
        var again = await h.Runtime.GenerateAsync(Long("paused", 3)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(FinishReason.Length, again.Completed.Reason);
    }

    [Fact]
    public async Task A_reader_paused_longer_than_max_paused_is_evicted_with_its_blocks_freed()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.request { stream-buffer = 1, max-paused = 300ms }"));
        var (chunks, completion) = h.Runtime.StreamWithCompletion(Long("slow", 3000));
        await using var e = chunks.GetAsyncEnumerator();
        Assert.True(await e.MoveNextAsync()); // then stop reading
        var done = await completion.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(FinishReason.Evicted, done.Reason);
        Assert.Contains("max-paused", done.Error);
        h.AwaitAllBlocksFree(this);
        AwaitNoRequestActors(h);
    }

    [Fact]
    public async Task A_request_not_started_within_the_admission_timeout_is_rejected_as_unavailable()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("""
            actors-runtime.scheduler.max-running-sequences = 1
            actors-runtime.request.admission-timeout = 300ms
            """));
        var first = h.Runtime.GenerateAsync(Long("first", 3000));
        await Task.Delay(100);
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() => h.Runtime.GenerateAsync(Long("second", 5)).WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Equal(RejectionReason.Unavailable, ex.Rejected.Reason);
        Assert.Contains("admission-timeout", ex.Rejected.Message);
        h.Runtime.Router.Tell(new Cancel("first"));
        Assert.Equal(FinishReason.Cancelled, (await first.WaitAsync(TimeSpan.FromSeconds(15))).Completed.Reason);
        h.AwaitAllBlocksFree(this);
        AwaitNoRequestActors(h);
    }
}
