using Akka.Streams;
using Akka.Streams.Dsl;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>Akka.Streams sources and async enumerables: backpressure bounds buffering; cancelling cancels the request.</summary>
public sealed class StreamingTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static Generate Request(string id, int max) => new()
    {
        RequestId = id,
        PromptTokens = [5, 6, 7],
        MaxTokens = max,
        Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
    };

    [Fact]
    public async Task A_source_streams_every_token_and_completes()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var mat = h.System.Materializer();
        var chunks = await h.Runtime.Stream(Request("s1", 25)).RunWith(Sink.Seq<TokenChunk>(), mat);
        Assert.Equal(25, chunks.Sum(c => c.TokenIds.Length));
    }

    [Fact]
    public async Task A_slow_consumer_pauses_generation_instead_of_buffering_without_bound()
    {
        const int buffer = 4;
        using var h = new RuntimeHarness(RuntimeFixture.Config($"actors-runtime.request.stream-buffer = {buffer}"));
        await using var e = h.Runtime.StreamAsync(Request("slow", 400)).GetAsyncEnumerator();
        Assert.True(await e.MoveNextAsync());
        // Do not read for a while: generation must stop near the channel's capacity.
        await Task.Delay(1500);
        long generated = h.Runtime.Metrics.GeneratedTotal;
        Assert.True(generated <= 1 + buffer + 4, $"{generated} tokens generated while the consumer read 1 (buffer {buffer})");
        int read = 1;
        while (await e.MoveNextAsync()) read += e.Current.TokenIds.Length;
        Assert.Equal(400, read);
    }

    [Fact]
    public async Task GenerateAsync_reads_nothing_until_the_end_yet_gets_every_token_past_the_stream_buffer()
    {
        // GenerateAsync collects from an unbounded channel once the request has ended (no wake-up per token):
        // far more tokens than the stream buffer must neither pause the sequence nor be lost, text included.
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.request.stream-buffer = 2"));
        var whole = await h.Runtime.GenerateAsync(Request("collect", 60));
        Assert.Equal(60, whole.TokenIds.Count);
        Assert.Equal(60, whole.Completed.Usage.CompletionTokens);
        var streamed = new List<int>();
        var text = new System.Text.StringBuilder();
        await foreach (var chunk in h.Runtime.StreamAsync(Request("stream", 60)))
        {
            streamed.AddRange(chunk.TokenIds);
            text.Append(chunk.Text);
        }
        Assert.Equal(streamed, whole.TokenIds);
        Assert.Equal(text.ToString(), whole.Text);
    }

    [Fact]
    public async Task Cancelling_a_stream_cancels_the_request_and_frees_its_blocks()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var mat = h.System.Materializer();
        var first = await h.Runtime.Stream(Request("take", 3000)).Take(3).RunWith(Sink.Seq<TokenChunk>(), mat);
        Assert.Equal(3, first.Count);
        h.AwaitAllBlocksFree(this);
        Assert.True(h.Runtime.Metrics.GeneratedTotal < 3000);
    }

    [Fact]
    public async Task Breaking_out_of_an_async_enumeration_cancels_the_request()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        int n = 0;
        await foreach (var _ in h.Runtime.StreamAsync(Request("brk", 3000)))
            if (++n == 2) break;
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public async Task A_rejected_request_fails_the_enumeration_with_the_reason()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var ex = await Assert.ThrowsAsync<Protocol.GenerationRejectedException>(async () =>
        {
            await foreach (var _ in h.Runtime.StreamAsync(Request("bad", 10) with { PromptTokens = [] })) { }
        });
        Assert.Equal(RejectionReason.InvalidParameters, ex.Rejected.Reason);
    }

    [Fact]
    public async Task GenerateAsync_returns_text_tokens_and_usage()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var result = await h.Runtime.GenerateAsync(new Generate { RequestId = "g", Prompt = "Once upon a time", MaxTokens = 10, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
        Assert.Equal(10, result.TokenIds.Count);
        Assert.Equal(10, result.Completed.Usage.CompletionTokens);
        Assert.True(result.Completed.Usage.PromptTokens > 3);
        Assert.Equal(h.Runtime.Tokenizer.Decode(result.TokenIds.ToArray()), result.Text);
    }
}
