using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

public sealed class GenerationTests(ITestOutputHelper output) : TestKit(RuntimeFixture.Config(), output: output)
{
    [Fact]
    public void A_generate_message_streams_chunks_then_one_completion()
    {
        var runtime = LlmRuntime.Get(Sys);
        runtime.Router.Tell(new Generate { RequestId = "r1", Prompt = "The quick brown fox", MaxTokens = 12, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
        var chunks = new List<TokenChunk>();
        GenerationCompleted? done = null;
        while (done is null)
        {
            var msg = ExpectMsg<object>(TimeSpan.FromSeconds(30));
            if (msg is TokenChunk c) chunks.Add(c);
            else done = Assert.IsType<GenerationCompleted>(msg);
        }
        Assert.Equal(FinishReason.Length, done.Reason);
        Assert.Equal(12, done.Usage.CompletionTokens);
        Assert.Equal(12, chunks.Sum(c => c.TokenIds.Length));
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Index));
    }
}
