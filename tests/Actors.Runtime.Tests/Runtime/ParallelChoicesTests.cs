using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A request's n choices (<see cref="LlmRuntime.StreamChoicesWithCompletion"/>) compute the prompt once
/// and share its KV blocks, yet each gives what the same request alone would give.
/// </summary>
public sealed class ParallelChoicesTests(ITestOutputHelper output) : TestKit(output: output)
{
    /// <summary>Counts the tokens every forward pass computes.</summary>
    private sealed class CountingDevice(string id) : DelegatingDevice(id)
    {
        private long _tokens;
        public long Tokens => Interlocked.Read(ref _tokens);
        protected override void BeforeForward(StepBatch batch) => Interlocked.Add(ref _tokens, batch.TokenCount);
    }

    private static readonly int[] Prompt = Enumerable.Range(0, 40).Select(i => 3 + (i * 37) % 300).ToArray();

    private static Generate Request(string id, int maxTokens, SamplingOptions sampling) => new()
    {
        RequestId = id,
        PromptTokens = Prompt,
        MaxTokens = maxTokens,
        Sampling = sampling with { IgnoreEos = true },
    };

    private static async Task<(int[] Tokens, GenerationCompleted Done)> Read((IAsyncEnumerable<TokenChunk> Chunks, Task<GenerationCompleted> Completion) choice)
    {
        var tokens = new List<int>();
        await foreach (var chunk in choice.Chunks) tokens.AddRange(chunk.TokenIds);
        return (tokens.ToArray(), await choice.Completion.WaitAsync(TimeSpan.FromSeconds(60)));
    }

    private static async Task<int[]> Alone(LlmRuntime runtime, Generate request) =>
        (await runtime.GenerateAsync(request).WaitAsync(TimeSpan.FromSeconds(60))).TokenIds.ToArray();

    private static (RuntimeHarness Harness, CountingDevice Device) Start(string extra = "")
    {
        CountingDevice? device = null;
        var setup = new RuntimeSetup
        {
            DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = o => device = new CountingDevice(o.Id) },
        };
        var h = new RuntimeHarness(RuntimeFixture.Config(extra), setup, "choices");
        return (h, device!);
    }

    [Fact]
    public async Task Four_greedy_choices_compute_the_prompt_once_and_each_equals_the_request_alone()
    {
        var (h, device) = Start();
        using var _ = h;
        await Alone(h.Runtime, Request("warm", 1, SamplingOptions.Greedy) with { PromptTokens = [9, 8, 7] }); // the device exists and is warm
        long before = device.Tokens;
        const int max = 5;
        var choices = h.Runtime.StreamChoicesWithCompletion(
            Enumerable.Range(0, 4).Select(i => Request($"g-{i}", max, SamplingOptions.Greedy)).ToList());
        var results = await Task.WhenAll(choices.Select(Read));
        long computed = device.Tokens - before;
        // The prompt once but its last token, then each choice its last prompt token and max - 1 decodes.
        Assert.Equal(Prompt.Length - 1 + 4 * max, computed);
        Assert.All(results, r => Assert.Equal((FinishReason.Length, max), (r.Done.Reason, r.Tokens.Length)));
        h.AwaitAllBlocksFree(this);

        var alone = await Alone(h.Runtime, Request("alone", max, SamplingOptions.Greedy));
        Assert.All(results, r => Assert.Equal(alone, r.Tokens));
    }

    [Fact]
    public async Task Sampled_choices_with_their_own_seeds_differ_and_each_equals_the_request_alone_with_that_seed()
    {
        var (h, _) = Start();
        using var __ = h;
        const int max = 12;
        var sampling = new SamplingOptions { Temperature = 1.5f };
        var requests = Enumerable.Range(0, 3).Select(i => Request($"s-{i}", max, sampling with { Seed = 1000 + (ulong)i })).ToList();
        var results = await Task.WhenAll(h.Runtime.StreamChoicesWithCompletion(requests).Select(Read));
        Assert.True(results.Select(r => string.Join(",", r.Tokens)).Distinct().Count() > 1, "seeded choices should differ");
        for (int i = 0; i < requests.Count; i++)
            Assert.Equal(await Alone(h.Runtime, requests[i] with { RequestId = $"alone-{i}" }), results[i].Tokens);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public async Task Cancelling_one_choice_ends_only_it_and_every_block_is_returned()
    {
        var (h, _) = Start("actors-runtime.request.stream-buffer = 1");
        using var __ = h;
        var requests = Enumerable.Range(0, 3).Select(i => Request($"c-{i}", 200, SamplingOptions.Greedy)).ToList();
        var choices = h.Runtime.StreamChoicesWithCompletion(requests);
        var reading = choices.Select((c, i) => i == 1 ? null : Read(c)).ToList();
        await using (var e = choices[1].Chunks.GetAsyncEnumerator())
        {
            Assert.True(await e.MoveNextAsync());
            h.Runtime.Router.Tell(new Cancel("c-1"));
            Assert.Equal(FinishReason.Cancelled, (await choices[1].Completion.WaitAsync(TimeSpan.FromSeconds(30))).Reason);
        }
        Assert.Equal(FinishReason.Length, (await reading[0]!).Done.Reason);
        Assert.Equal(FinishReason.Length, (await reading[2]!).Done.Reason);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public async Task Cancelling_every_choice_while_they_run_returns_every_block()
    {
        var (h, _) = Start();
        using var __ = h;
        var choices = h.Runtime.StreamChoicesWithCompletion(
            Enumerable.Range(0, 4).Select(i => Request($"x-{i}", 2000, SamplingOptions.Greedy)).ToList());
        await using (var e = choices[0].Chunks.GetAsyncEnumerator())
        {
            Assert.True(await e.MoveNextAsync());
            for (int i = 0; i < 4; i++) h.Runtime.Router.Tell(new Cancel($"x-{i}"));
            foreach (var c in choices) Assert.Equal(FinishReason.Cancelled, (await c.Completion.WaitAsync(TimeSpan.FromSeconds(30))).Reason);
        }
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public async Task Cancelling_the_first_choice_before_the_prompt_is_computed_leaves_the_others_running()
    {
        var (h, _) = Start();
        using var __ = h;
        var choices = h.Runtime.StreamChoicesWithCompletion(
            Enumerable.Range(0, 3).Select(i => Request($"p-{i}", 4, SamplingOptions.Greedy)).ToList());
        h.Runtime.Router.Tell(new Cancel("p-0"));
        var rest = await Task.WhenAll(choices.Skip(1).Select(Read));
        Assert.All(rest, r => Assert.Equal(FinishReason.Length, r.Done.Reason));
        Assert.Equal(rest[0].Tokens, rest[1].Tokens);
        h.AwaitAllBlocksFree(this);
    }
}
