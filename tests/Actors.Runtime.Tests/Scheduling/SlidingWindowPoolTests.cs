using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Runtime.Configuration;
using Actors.Runtime.Layout;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using Xunit;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Scheduling;

/// <summary>
/// Sliding-window layers with a KV pool of their own: blocks that slid out of the window go back to
/// the pool, admission and preemption count both pools, and for the same KV bytes more long
/// sequences run at once than with one pool for every layer.
/// </summary>
public sealed class SlidingWindowPoolTests(ITestOutputHelper output)
{
    private const int Window = 8;

    private static SchedulerSettings Sliding(int slidingBlocks, int blocks = 128, int budget = 64, int maxRunning = 8, int maxModelLength = 256,
        bool prefixCaching = false, PreemptionMode mode = PreemptionMode.Recompute, int swapBlocks = 0) =>
        SchedulerTestKit.Settings(budget: budget, maxRunning: maxRunning, blocks: blocks, maxModelLength: maxModelLength,
            prefixCaching: prefixCaching, mode: mode, swapBlocks: swapBlocks) with
        { NumSlidingBlocks = slidingBlocks, SlidingWindow = Window };

    [Fact]
    public void A_decoding_sequence_holds_a_window_plus_one_block_of_sliding_KV_however_long_it_runs()
    {
        // 24 sliding blocks: enough for a window of 8 plus a 64-token chunk (a recompute after preemption) at once.
        var policy = new SchedulerPolicy(Sliding(slidingBlocks: 24));
        policy.Add(SchedulerTestKit.Request(1, promptLength: 10, maxNewTokens: 200));
        int steps = 0, maxDecodingSliding = 0, maxSliding = 0;
        while (policy.LiveCount > 0)
        {
            policy.Step();
            steps++;
            if (!policy.TryGetHeldBlocks(1, out int main, out int sliding)) break;
            maxSliding = Math.Max(maxSliding, sliding);
            if (steps > 1) maxDecodingSliding = Math.Max(maxDecodingSliding, sliding);
            Assert.Equal((10 + steps - 1 + 3) / 4, main); // the main table grows with the sequence, as before
        }
        Assert.Equal(200, steps);
        // A window of 8 over blocks of 4 straddles at most 3 blocks; the 10-token prompt needed ceil((7 + 10) / 4) + 1 = 6 at most.
        Assert.Equal(Window / 4 + 1, maxDecodingSliding);
        Assert.True(maxSliding <= 6, $"the prompt step held {maxSliding} sliding blocks");
        Assert.Equal(0, policy.SlidingBlockPool!.UsedCount);
        Assert.Equal(0, policy.BlockPool.UsedCount);
    }

    [Fact]
    public void A_full_sliding_pool_preempts_and_every_sequence_still_finishes()
    {
        // 7 sliding blocks: two decoding sequences (3 each) fit, a third has to wait or push one out.
        var policy = new SchedulerPolicy(Sliding(slidingBlocks: 7, budget: 16));
        for (int id = 1; id <= 5; id++) policy.Add(SchedulerTestKit.Request(id, promptLength: 6, maxNewTokens: 40));
        int finished = 0, steps = 0;
        while (policy.LiveCount > 0 && steps++ < 2000)
        {
            var step = policy.Schedule();
            policy.CheckInvariants();
            Assert.True(policy.SlidingBlockPool!.UsedCount <= 7);
            finished += policy.Complete(step).Finished.Length;
        }
        Assert.Equal(5, finished);
        Assert.True(policy.TotalPreemptions > 0, "five sequences never ran short of 7 sliding blocks");
        Assert.Equal(0, policy.SlidingBlockPool!.UsedCount);
    }

    [Fact]
    public void A_sequence_whose_window_and_prompt_chunk_exceed_the_sliding_pool_is_refused()
    {
        var policy = new SchedulerPolicy(Sliding(slidingBlocks: 4));
        var result = policy.TryAdd(SchedulerTestKit.Request(1, promptLength: 20, maxNewTokens: 4));
        Assert.Equal(AdmissionStatus.SequenceExceedsKvPool, result.Status);
        Assert.Contains("sliding-window KV blocks", result.Message);
        Assert.True(policy.TryAdd(SchedulerTestKit.Request(2, promptLength: 4, maxNewTokens: 12)).IsAccepted); // 16 tokens in all: 4 blocks
    }

    [Fact]
    public void Swap_and_KV_import_are_off_with_a_sliding_pool()
    {
        var policy = new SchedulerPolicy(Sliding(slidingBlocks: 32, prefixCaching: true, mode: PreemptionMode.Swap, swapBlocks: 32));
        Assert.True(policy.KvCache.PrefixCachingEnabled);
        Assert.Null(policy.HostBlockPool);
        var import = policy.TryImport(SchedulerTestKit.Request(3, 5), [1, 2, 3, 4, 5], 5, computedTokens: 4, out _);
        Assert.False(import.IsAccepted);
        Assert.Contains("sliding-window", import.Message);
    }

    [Fact]
    public void A_fork_shares_the_sliding_blocks_and_the_first_write_into_the_shared_partial_block_copies_it_in_both_pools()
    {
        var policy = new SchedulerPolicy(Sliding(slidingBlocks: 32));
        var prompt = SchedulerTestKit.Request(1, 10).PromptTokens;
        policy.Add(SchedulerTestKit.Request(1, 10, maxNewTokens: 30) with { Forks = [SchedulerTestKit.Request(2, 10, 30) with { PromptTokens = prompt }] });
        Assert.Equal(1, policy.WaitingCount);
        var first = policy.Schedule();
        Assert.Equal(9, first.Of(1).TokenCount); // up to the fork point: all of the prompt but its last token
        Assert.Single(policy.Complete(first).Forked.ToArray());
        Assert.True(policy.TryGetHeldBlocks(2, out _, out int forkSliding));
        Assert.Equal(3, forkSliding);
        Assert.Equal(3, policy.SlidingBlockPool!.UsedCount); // shared, not copied

        // Both write position 9 into block 2 (position 8 is in it): the first of them gets a private copy, in both pools.
        var second = policy.Schedule();
        Assert.Equal(2, second.Sequences.Length);
        Assert.Single(second.BlockCopies.ToArray());
        var copy = Assert.Single(second.SlidingBlockCopies.ToArray());
        Assert.Equal(second.SlidingBlockTableOf(1)[2], copy.Source);
        Assert.Equal(second.SlidingBlockTableOf(0)[2], copy.Destination);
        policy.Complete(second);
        while (policy.LiveCount > 0) policy.Step();
        Assert.Equal(0, policy.SlidingBlockPool.UsedCount);
    }

    [Fact]
    public void A_prefix_hit_takes_the_cached_sliding_blocks_its_window_sees_and_starts_the_rest_released()
    {
        var policy = new SchedulerPolicy(Sliding(slidingBlocks: 32, prefixCaching: true));
        var prefix = Enumerable.Range(100, 30).ToArray();
        policy.Add(new SequenceRequest(1, prefix.Append(1).ToArray(), 4, 0, TimeSpan.FromSeconds(1)));
        while (policy.LiveCount > 0) policy.Step();
        // Sequence 1's sliding blocks went back to the pool, still cached (evictable, most recent last).
        Assert.Equal(0, policy.SlidingBlockPool!.UsedCount);
        Assert.True(policy.SlidingBlockPool.CachedCount > 0);

        policy.Add(new SequenceRequest(2, prefix.Append(2).ToArray(), 4, 0, TimeSpan.FromSeconds(2)));
        var step = policy.Schedule();
        policy.CheckInvariants();
        // 31 prompt tokens: 7 full blocks of the shared 30 are cached in the main pool; the first write at 28
        // sees positions 21-27, so the sliding blocks 5 and 6 come from the cache and 0-4 start released.
        Assert.Equal(28, step.Of(2).StartPosition);
        var sliding = step.SlidingBlockTableOf(0).ToArray();
        Assert.Equal(Enumerable.Repeat(-1, 5), sliding[..5]);
        Assert.All(sliding[5..], b => Assert.True(b >= 0));
        Assert.True(policy.TryGetHeldBlocks(2, out int main, out int held));
        Assert.Equal(8, main);
        Assert.Equal(3, held); // blocks 5, 6 (hits) and 7 (fresh, for positions 28-30)
        policy.Complete(step);
        while (policy.LiveCount > 0) policy.Step();
    }

    /// <summary>
    /// A Gemma 3 27B-shaped model (62 layers, every sixth global, window 1024, 16 KV heads of 128, F16 KV)
    /// on 24 GB with kv-cache.memory-fraction 0.5: the pools KvSizing makes with and without the sliding pool,
    /// and how many sequences of 2048 and 8192 tokens the scheduler then runs at once.
    /// </summary>
    [Theory]
    [InlineData(2048)]
    [InlineData(8192)]
    public void The_same_KV_bytes_run_more_long_gemma3_sequences_at_once_with_a_sliding_pool(int context)
    {
        var c = Gemma3_27B(context);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var device = new CpuDevice(threads: 1, memoryBytes: 24L << 30);
        var layout = new RuntimeLayout([[new StagePlacement(0, 0, device.Descriptor.Id, new LayerRange(0, c.BlockCount))]]);
        var options = new KvCacheOptions(BlockSize: 16, NumBlocks: 0, MemoryFraction: 0.5, MaxBlocks: 1 << 20, KvCacheType.F16, SwapBlocks: 0);
        var before = KvSizing.Size(options with { SlidingWindowPool = false }, layout, [device], c, context, maxChunkTokens: 512);
        var after = KvSizing.Size(options, layout, [device], c, context, maxChunkTokens: 512);
        Assert.False(before.HasSlidingPool);
        Assert.True(after.HasSlidingPool);
        long bytesBefore = before.TotalBytes(c, new LayerRange(0, c.BlockCount)), bytesAfter = after.TotalBytes(c, new LayerRange(0, c.BlockCount));
        Assert.True(bytesAfter <= bytesBefore * 1.01, $"the sliding pool took {bytesAfter} bytes, one pool {bytesBefore}");

        int runningBefore = RunAtOnce(before, c, context), runningAfter = RunAtOnce(after, c, context);
        long perSequenceBefore = c.KvBytesPerToken(2) * context, perSequenceAfter = c.KvBytesPerSequence(context, 16, 2);
        output.WriteLine($"context {context}: one pool {before.NumBlocks} blocks ({bytesBefore / 1e9:F2} GB), {perSequenceBefore / 1e6:F0} MB per sequence, {runningBefore} sequences at once; " +
            $"sliding pool {after.NumBlocks} + {after.SlidingNumBlocks} blocks ({bytesAfter / 1e9:F2} GB), {perSequenceAfter / 1e6:F0} MB per sequence, {runningAfter} sequences at once " +
            $"({(double)runningAfter / runningBefore:F2}x) [{clock.ElapsedMilliseconds} ms]");
        // Per sequence the sliding layers hold about a window instead of the context: 52 of 62 layers shrink by 2x at 2048, 8x at 8192.
        Assert.True(runningAfter >= (context >= 8192 ? 3.0 : 1.5) * runningBefore, $"{runningAfter} sequences with the sliding pool, {runningBefore} without");
    }

    /// <summary>
    /// Most sequences of <paramref name="context"/> tokens (prompt of context − 64, 64 new) whose whole
    /// prompt is in the KV cache at the same time, scheduling 40 of them until they are done (4096 tokens
    /// a step, prefill chunks of 512: prompts come in fast enough for memory, not the budget, to decide).
    /// </summary>
    private static int RunAtOnce(KvCacheSpec kv, LlamaConfig c, int context)
    {
        const int requests = 40;
        var settings = new SchedulerSettings
        {
            MaxBatchedTokens = 4096, LongPrefillThreshold = 512, MaxRunningSequences = 256, MaxWaiting = 512, BlockSize = kv.BlockSize, NumBlocks = kv.NumBlocks,
            MaxModelLength = context, EnableChunkedPrefill = true, EnablePrefixCaching = false, PreemptionMode = PreemptionMode.Recompute,
            MaxInFlightSteps = 1, NumSlidingBlocks = kv.SlidingNumBlocks, SlidingWindow = kv.HasSlidingPool ? c.SlidingWindow : 0,
        };
        var policy = new SchedulerPolicy(settings);
        for (int id = 1; id <= requests; id++) policy.Add(SchedulerTestKit.Request(id, context - 64, 64));
        int promptBlocks = (context - 64) / kv.BlockSize, most = 0;
        for (int step = 0; step < 20_000 && policy.LiveCount > 0; step++)
        {
            var scheduled = policy.Schedule();
            policy.Update(scheduled, Enumerable.Repeat(7, scheduled.LogitCount).ToArray());
            int resident = 0;
            for (int id = 1; id <= requests; id++)
                if (policy.TryGetHeldBlocks(id, out int main, out _) && main >= promptBlocks) resident++;
            most = Math.Max(most, resident);
        }
        Assert.Equal(0, policy.LiveCount);
        return most;
    }

    /// <summary>Gemma 3 27B's attention shape (the weights do not matter to KV sizing).</summary>
    private static LlamaConfig Gemma3_27B(int context) => new()
    {
        Architecture = "gemma3", Traits = ArchitectureTraits.Gemma3,
        EmbeddingLength = 5376, BlockCount = 62, HeadCount = 32, HeadCountKv = 16, HeadDim = 128, FeedForwardLength = 21504,
        VocabSize = 262144, ContextLength = context, RmsNormEps = 1e-6f, SlidingWindow = 1024,
        Rope = new RopeParameters(128, 1_000_000f, RopeScalingType.None, FreqScale: 1f, OriginalContextLength: context, ExtFactor: 0f, AttnFactor: 1f,
            BetaFast: 32f, BetaSlow: 1f, FreqFactors: null),
    };
}
