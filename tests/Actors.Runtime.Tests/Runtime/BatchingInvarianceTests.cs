using Akka.TestKit.Xunit2;
using Actors.Inference.Synthetic;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// N concurrent greedy requests produce exactly the tokens each produces alone: the kernels are
/// batch-invariant, so a user gets the same answer under load as alone — with prefix caching, with
/// chunked prefill, and under forced preemption from a tiny KV pool.
/// </summary>
public sealed class BatchingInvarianceTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static List<Generate> Requests(int count, int sharedPrefix, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        var prefix = Enumerable.Range(0, sharedPrefix).Select(_ => 3 + rng.NextInt(300)).ToArray();
        return Enumerable.Range(0, count).Select(i =>
        {
            int own = 4 + rng.NextInt(40);
            var prompt = prefix.Concat(Enumerable.Range(0, own).Select(_ => 3 + rng.NextInt(300))).ToArray();
            return new Generate
            {
                RequestId = $"req-{i}",
                PromptTokens = prompt,
                MaxTokens = 8 + rng.NextInt(24),
                Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
            };
        }).ToList();
    }

    private static readonly Dictionary<int, List<List<int>>> AloneCache = new();

    /// <summary>Each request run by itself, one after another (cached per request set: it is the same for every case).</summary>
    private List<List<int>> Alone(IReadOnlyList<Generate> requests, int key)
    {
        lock (AloneCache)
        {
            if (AloneCache.TryGetValue(key, out var cached)) return cached;
            using var h = new RuntimeHarness(RuntimeFixture.Config(), name: "alone");
            return AloneCache[key] = requests.Select(r => h.Run(r, this).Tokens).ToList();
        }
    }

    [Theory]
    [InlineData("defaults", "", 0)]
    [InlineData("prefix-caching", "actors-runtime.scheduler.prefix-caching = on", 48)]
    [InlineData("chunked-prefill", "actors-runtime.scheduler { max-batched-tokens = 24, max-running-sequences = 8 }", 0)]
    [InlineData("preemption", "actors-runtime.kv-cache.num-blocks = 10", 0)]
    [InlineData("preemption-by-swap", "actors-runtime.kv-cache.num-blocks = 10\nactors-runtime.scheduler.preemption-mode = swap", 0)]
    [InlineData("preemption-auto", "actors-runtime.kv-cache.num-blocks = 10\nactors-runtime.scheduler.preemption-mode = auto", 0)]
    public void Concurrent_greedy_requests_produce_the_tokens_each_produces_alone(string name, string config, int sharedPrefix)
    {
        var requests = Requests(10, sharedPrefix, seed: 17);
        var expected = Alone(requests, sharedPrefix);
        using var h = new RuntimeHarness(RuntimeFixture.Config(config), name: "concurrent");
        var outcomes = h.RunConcurrently(requests, this);
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.True(outcomes[i].Completed is not null, $"{name}: request {i} was rejected: {outcomes[i].Rejected}");
            Assert.Equal(expected[i], outcomes[i].Tokens);
        }
        if (name.StartsWith("preemption")) Assert.True(h.Runtime.Metrics.PreemptionsTotal > 0, $"{name}: the tiny KV pool forced no preemption");
        if (name == "prefix-caching") Assert.True(Interlocked.Read(ref h.Runtime.Metrics.Replica(0).PrefixHits) > 0, "no prefix-cache hit");
        h.AwaitAllBlocksFree(this);
    }
}
