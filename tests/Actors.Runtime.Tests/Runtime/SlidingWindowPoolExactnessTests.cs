using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A gemma3 model (five sliding layers of window 8, one global, one sliding) whose sliding layers keep
/// their KV in a small pool of their own, recycled as blocks slide out of the window: every logit is
/// bit for bit what the same sequence gets alone with every layer in one full-context pool.
/// </summary>
public sealed class SlidingWindowPoolExactnessTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly SyntheticModelSpec Gemma3 = RuntimeFixture.Small with
    {
        Architecture = "gemma3", Layers = 7, SlidingWindow = 8, SeparateOutput = false, Context = 512, Seed = 91,
    };

    private const int BlockSize = 4;

    [Fact]
    public void Logits_of_concurrent_long_generations_with_a_recycled_sliding_pool_equal_the_full_KV_path()
    {
        using var model = LlamaModel.Open(RuntimeFixture.ModelPath(Gemma3));
        var c = model.Config;
        Assert.True(c.IsSlidingLayer(0) && !c.IsSlidingLayer(5));
        using var device = new CpuDevice(threads: 2);
        const int sequences = 4, promptLength = 14, newTokens = 90; // forks start at 13: inside a block, so it is copied on write
        // Main pool for every sequence's whole context; 5 sliding blocks (what one 8-token chunk after a window of 8
        // needs): decoding sequences hold 2-3 each, so they push each other out (recompute) while every sliding
        // block is recycled again and again.
        var settings = new SchedulerSettings
        {
            MaxBatchedTokens = 8, MaxRunningSequences = sequences + 2, MaxWaiting = 8, BlockSize = BlockSize, NumBlocks = 4 * 27,
            MaxModelLength = 128, EnableChunkedPrefill = true, EnablePrefixCaching = true, PreemptionMode = PreemptionMode.Recompute,
            MaxInFlightSteps = 1, NumSlidingBlocks = 5, SlidingWindow = c.SlidingWindow,
        };
        var kv = new KvCacheSpec(BlockSize, settings.NumBlocks, c.HeadCountKv, c.HeadDim) { SlidingNumBlocks = settings.NumSlidingBlocks };
        using var stage = device.LoadStage(model, new LayerRange(0, c.BlockCount), kv, settings.MaxBatchedTokens);
        var policy = new SchedulerPolicy(settings);
        var rng = new DeterministicRandom(5);
        // A shared 9-token start (two full blocks to hit in the prefix cache), then each its own tokens; a
        // sequence recomputed after preemption hits its own earlier blocks too.
        var shared = Enumerable.Range(0, 9).Select(_ => 3 + rng.NextInt(300)).ToArray();
        var prompts = Enumerable.Range(0, sequences).Select(_ => shared.Concat(Enumerable.Range(0, promptLength - 9).Select(_ => 3 + rng.NextInt(300))).ToArray()).ToArray();
        // Sequence 0 comes with two forks (ids 10, 11: parallel sampling) that share its prompt's blocks in both pools.
        for (int s = 0; s < sequences; s++)
        {
            var request = new SequenceRequest(s, prompts[s], newTokens, 0, TimeSpan.FromSeconds(s)) { IgnoreEos = true };
            if (s == 0) request = request with { Forks = [request with { Id = 10, Forks = [] }, request with { Id = 11, Forks = [] }] };
            Assert.True(policy.TryAdd(request).IsAccepted);
        }
        long[] ids = [0, 1, 2, 3, 10, 11];
        long PromptOf(long id) => id >= 10 ? 0 : id;

        // The scheduled path: greedy tokens, and the logits each was sampled from, per sequence.
        var logits = ids.ToDictionary(id => id, _ => new List<float[]>());
        int slidingCopies = 0;
        var batch = new StepBatch();
        var outputRows = new float[settings.MaxRunningSequences * c.VocabSize];
        int steps = 0, maxSlidingUsed = 0;
        while (policy.LiveCount > 0 && steps++ < 2000)
        {
            var step = policy.Schedule();
            StepBatchFiller.Fill(step, batch);
            slidingCopies += step.SlidingBlockCopies.Length;
            foreach (var copy in step.SlidingBlockCopies) stage.CopySlidingKvBlock(copy.Source, copy.Destination);
            foreach (var copy in step.BlockCopies) stage.CopyKvBlock(copy.Source, copy.Destination);
            var sampled = new int[step.LogitCount];
            if (batch.TokenCount > 0)
            {
                stage.Forward(batch, ReadOnlySpan<float>.Empty, outputRows);
                int row = 0;
                foreach (var scheduled in step.Sequences)
                {
                    if (!scheduled.NeedsLogits) continue;
                    var rowLogits = outputRows.AsSpan(row * c.VocabSize, c.VocabSize).ToArray();
                    logits[scheduled.Id].Add(rowLogits);
                    sampled[row++] = ArgMax(rowLogits);
                }
            }
            policy.Update(step, sampled);
            policy.CheckInvariants();
            maxSlidingUsed = Math.Max(maxSlidingUsed, policy.SlidingBlockPool!.UsedCount);
        }
        Assert.Equal(0, policy.LiveCount);
        output.WriteLine($"{steps} steps, {policy.TotalPreemptions} preemptions, at most {maxSlidingUsed} of {settings.NumSlidingBlocks} sliding blocks in use, " +
            $"{policy.BlockPool.Hits} of {policy.BlockPool.Queries} prefix blocks hit, {slidingCopies} sliding copy-on-write copies");
        Assert.True(policy.BlockPool.Hits > 0, "no prefix-cache hit");
        Assert.True(slidingCopies > 0, "the forks never wrote into a sliding block they shared");

        // The full-KV path: each sequence alone, every layer in one pool of consecutive blocks, its prompt
        // and then the same tokens one at a time.
        var fullKv = new KvCacheSpec(BlockSize, 32, c.HeadCountKv, c.HeadDim);
        using var reference = device.LoadStage(model, new LayerRange(0, c.BlockCount), fullKv, 128);
        var refBatch = new StepBatch();
        var refOut = new float[128 * c.VocabSize];
        foreach (long id in ids)
        {
            int s = (int)PromptOf(id);
            var tokens = new List<int>(prompts[s]);
            SequenceBatch.Create(prompts[s], 0, fullKv, allLogits: false, refBatch);
            reference.Forward(refBatch, ReadOnlySpan<float>.Empty, refOut);
            var expected = new List<float[]> { refOut.AsSpan(0, c.VocabSize).ToArray() };
            for (int i = 1; i < newTokens; i++)
            {
                tokens.Add(ArgMax(expected[^1]));
                SequenceBatch.Create(tokens.ToArray().AsSpan(tokens.Count - 1, 1), tokens.Count - 1, fullKv, allLogits: false, refBatch);
                reference.Forward(refBatch, ReadOnlySpan<float>.Empty, refOut);
                expected.Add(refOut.AsSpan(0, c.VocabSize).ToArray());
            }
            var got = logits[id];
            Assert.Equal(newTokens, got.Count);
            for (int i = 0; i < newTokens; i++)
                Assert.True(expected[i].AsSpan().SequenceEqual(got[i]), $"sequence {id}: the logits of generated token {i} differ from the full-KV path");
        }
        Assert.True(policy.TotalPreemptions > 0, "5 sliding blocks never ran short");
    }

    /// <summary>The whole runtime (actors, stage, scheduler) on the gemma3 model: the same greedy tokens with the sliding pool as with one pool, under preemption and prefix-cache hits.</summary>
    [Fact]
    public void Greedy_gemma3_generations_are_the_same_with_and_without_the_sliding_pool()
    {
        var rng = new DeterministicRandom(23);
        var shared = Enumerable.Range(0, 12).Select(_ => 3 + rng.NextInt(300)).ToArray(); // three blocks for the prefix cache
        var requests = Enumerable.Range(0, 6).Select(i => new Generate
        {
            RequestId = $"g-{i}",
            PromptTokens = shared.Concat(Enumerable.Range(0, 1 + rng.NextInt(24)).Select(_ => 3 + rng.NextInt(300))).ToArray(),
            MaxTokens = 40 + rng.NextInt(40),
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
        }).ToList();
        const string Small = """
            actors-runtime.kv-cache.block-size = 4
            actors-runtime.kv-cache.num-blocks = 60
            actors-runtime.scheduler.max-batched-tokens = 32
            actors-runtime.scheduler.max-running-sequences = 8
            actors-runtime.scheduler.max-model-length = 128
            """;
        List<Outcome> onePool, slidingPool;
        using (var h = new RuntimeHarness(RuntimeFixture.Config(Small + "\nactors-runtime.kv-cache.sliding-window-pool = off", Gemma3), name: "one-pool"))
        {
            Assert.False(h.Runtime.KvCache.HasSlidingPool);
            onePool = h.RunConcurrently(requests, this);
        }
        using (var h = new RuntimeHarness(RuntimeFixture.Config(Small, Gemma3), name: "sliding-pool"))
        {
            Assert.True(h.Runtime.KvCache.HasSlidingPool);
            output.WriteLine($"sliding pool: {h.Runtime.KvCache.NumBlocks} main + {h.Runtime.KvCache.SlidingNumBlocks} sliding blocks of {h.Runtime.KvCache.BlockSize}");
            slidingPool = h.RunConcurrently(requests, this);
            h.AwaitAllBlocksFree(this);
            var gauges = h.Runtime.Metrics.Replica(0);
            AwaitCondition(() => gauges.SlidingBlocksUsed == 0 && gauges.SlidingBlocksFree == h.Runtime.KvCache.SlidingNumBlocks, TimeSpan.FromSeconds(10));
            Assert.True(h.Runtime.Metrics.PreemptionsTotal > 0, "60 main blocks for six sequences of up to 115 tokens never ran short");
            Assert.True(Interlocked.Read(ref gauges.PrefixHits) > 0, "the shared 12-token start never hit the prefix cache");
        }
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.True(slidingPool[i].Completed is not null, $"request {i} was rejected: {slidingPool[i].Rejected}");
            Assert.Equal(onePool[i].Tokens, slidingPool[i].Tokens);
        }
    }

    /// <summary>
    /// n = 3 seeded choices on the gemma3 model share the prompt's blocks in both pools (the first write
    /// into the shared partial block is copied on the device) and each equals the request alone.
    /// </summary>
    [Fact]
    public async Task Parallel_choices_share_sliding_blocks_and_each_equals_the_request_alone()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.kv-cache.block-size = 4", Gemma3), name: "choices");
        Assert.True(h.Runtime.KvCache.HasSlidingPool);
        var prompt = Enumerable.Range(0, 30).Select(i => 3 + (i * 37) % 300).ToArray(); // forks start at 29, inside a block
        var requests = Enumerable.Range(0, 3).Select(i => new Generate
        {
            RequestId = $"c-{i}", PromptTokens = prompt, MaxTokens = 24,
            Sampling = new SamplingOptions { Temperature = 1.5f, Seed = 500 + (ulong)i, IgnoreEos = true },
        }).ToList();
        var choices = h.Runtime.StreamChoicesWithCompletion(requests);
        var results = new List<int[]>();
        foreach (var (chunks, completion) in choices)
        {
            var tokens = new List<int>();
            await foreach (var chunk in chunks) tokens.AddRange(chunk.TokenIds);
            await completion.WaitAsync(TimeSpan.FromSeconds(60));
            results.Add(tokens.ToArray());
        }
        Assert.True(results.Select(r => string.Join(",", r)).Distinct().Count() > 1, "seeded choices should differ");
        for (int i = 0; i < requests.Count; i++)
        {
            var alone = await h.Runtime.GenerateAsync(requests[i] with { RequestId = $"alone-{i}" }).WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(alone.TokenIds.ToArray(), results[i]);
        }
        h.AwaitAllBlocksFree(this);
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
