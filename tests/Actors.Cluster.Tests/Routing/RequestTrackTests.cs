using Actors.Cluster.Routing;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Routing;

public sealed class RequestTrackTests
{
    private static RequestTrack Track(int maxTokens = 10, bool ignoreEos = false, int[]? stopIds = null) =>
        new(new Generate { RequestId = "r", Prompt = "hello", Sampling = SamplingOptions.Greedy with { IgnoreEos = ignoreEos, StopTokenIds = stopIds ?? [] } },
            [1, 50, 60], maxTokens, [2], null, 0);

    [Fact]
    public void The_first_attempt_sends_the_prompt_as_tokens_under_the_client_s_id()
    {
        var t = Track();
        var g = t.NextAttempt();
        Assert.Equal("r", g.RequestId);
        Assert.Null(g.Prompt);
        Assert.Equal([1, 50, 60], g.PromptTokens!);
        Assert.Equal(10, g.MaxTokens);
    }

    [Fact]
    public void A_readmission_resumes_from_prompt_plus_streamed_tokens_with_the_remaining_budget()
    {
        var t = Track();
        t.NextAttempt();
        var first = t.Accept(new TokenChunk("r", 0, [7, 8], "ab", null), 5);
        var second = t.Accept(new TokenChunk("r", 1, [9], "c", null), 6);
        Assert.Equal((0, 1), (first!.Index, second!.Index));
        Assert.True(t.TryReadmit(3));
        var g = t.NextAttempt();
        Assert.Equal("r#2", g.RequestId);
        Assert.Equal([1, 50, 60, 7, 8, 9], g.PromptTokens!);
        Assert.Equal(7, g.MaxTokens);
        // The new worker numbers its chunks from 0; the client's indices go on.
        var third = t.Accept(new TokenChunk("r#2", 0, [11], "d", null), 9);
        Assert.Equal(("r", 2), (third!.RequestId, third.Index));
        var done = t.Complete(new GenerationCompleted("r#2", FinishReason.Length, new Usage(6, 1, 6), new Timings(1, 2, 3, [1]), null), 12);
        Assert.Equal(new Usage(3, 4, 0), done.Usage);
        Assert.Equal("r", done.RequestId);
        Assert.Equal(5, done.Timings.TimeToFirstTokenMs);
        Assert.Equal(12, done.Timings.TotalMs);
    }

    [Fact]
    public void A_sampled_request_is_resumed_with_its_seed_and_the_random_draws_its_streamed_tokens_used()
    {
        var seeded = new RequestTrack(new Generate { RequestId = "s", PromptTokens = [1, 5], Sampling = new SamplingOptions { Temperature = 0.8f, Seed = 99 } },
            [1, 5], 10, [2], null, 0);
        Assert.Equal((99UL, 0L), (seeded.NextAttempt().Sampling.Seed!.Value, seeded.NextAttempt().Sampling.RandomDraws));
        seeded.Accept(new TokenChunk("s#2", 0, [7], "a", null), 1);
        seeded.Accept(new TokenChunk("s#2", 1, [8], "b", null), 1);
        var resumed = seeded.NextAttempt();
        Assert.Equal((99UL, 2L), (resumed.Sampling.Seed!.Value, resumed.Sampling.RandomDraws));

        // Without a seed the gateway fixes one, so that a re-admission continues the same random sequence.
        var unseeded = new RequestTrack(new Generate { RequestId = "u", PromptTokens = [1, 5], Sampling = new SamplingOptions { Temperature = 0.8f } },
            [1, 5], 10, [2], null, 0);
        var firstSeed = unseeded.NextAttempt().Sampling.Seed;
        Assert.NotNull(firstSeed);
        Assert.Equal(firstSeed, unseeded.NextAttempt().Sampling.Seed);
        Assert.Null(Track().NextAttempt().Sampling.Seed); // greedy needs none
    }

    [Fact]
    public void Readmissions_are_bounded()
    {
        var t = Track();
        Assert.True(t.TryReadmit(2));
        Assert.True(t.TryReadmit(2));
        Assert.False(t.TryReadmit(2));
    }

    [Fact]
    public void Streamed_tokens_that_spent_the_budget_or_ended_on_a_stop_token_finish_the_request_without_a_worker()
    {
        var t = Track(maxTokens: 2);
        t.NextAttempt();
        Assert.Null(t.FinishedByTokens());
        t.Accept(new TokenChunk("r", 0, [7, 8], "ab", null), 1);
        Assert.Equal(FinishReason.Length, t.FinishedByTokens());

        var eos = Track();
        eos.Accept(new TokenChunk("r", 0, [7, 2], "a", null), 1);
        Assert.Equal(FinishReason.Stop, eos.FinishedByTokens());
        var ignored = Track(ignoreEos: true);
        ignored.Accept(new TokenChunk("r", 0, [7, 2], "a", null), 1);
        Assert.Null(ignored.FinishedByTokens());
        var stop = Track(ignoreEos: true, stopIds: [7]);
        stop.Accept(new TokenChunk("r", 0, [7], "a", null), 1);
        Assert.Equal(FinishReason.Stop, stop.FinishedByTokens());
    }

    [Fact]
    public void A_request_that_cannot_go_on_is_rejected_before_any_chunk_and_ends_with_an_error_after()
    {
        var t = Track();
        Assert.IsType<GenerationRejected>(t.Fail(RejectionReason.QueueFull, "no worker", 1));
        t.Accept(new TokenChunk("r", 0, [7], "a", null), 1);
        var failed = Assert.IsType<GenerationCompleted>(t.Fail(RejectionReason.QueueFull, "no worker", 1));
        Assert.Equal(FinishReason.Error, failed.Reason);
        Assert.Equal("no worker", failed.Error);
        Assert.Equal(1, failed.Usage.CompletionTokens);
    }
}
