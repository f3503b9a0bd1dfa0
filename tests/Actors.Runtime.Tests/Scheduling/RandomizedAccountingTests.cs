using Actors.Inference.Compute;
using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

/// <summary>
/// Thousands of random requests (shared prefixes, priorities, EOS, aborts, forks) driven through
/// Schedule/Update with random cancellations and random fake samples, checking after every call that
/// the block accounting is exact; at the end every block must be free again.
/// </summary>
public class RandomizedAccountingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Vocabulary = 1000;
    private const int EosToken = 1;

    [Theory]
    [InlineData(1, PreemptionMode.Recompute, true, true, 1)]
    [InlineData(2, PreemptionMode.Recompute, true, true, 3)]
    [InlineData(3, PreemptionMode.Recompute, false, false, 2)]
    [InlineData(4, PreemptionMode.Swap, true, true, 3)]
    [InlineData(5, PreemptionMode.Swap, false, true, 1)]
    [InlineData(6, PreemptionMode.Swap, true, false, 2)]
    // A sliding-window pool of 14 blocks (window 6: an odd share of a block) beside the main one; swap asked for, recompute used.
    [InlineData(7, PreemptionMode.Recompute, true, true, 1, 14)]
    [InlineData(8, PreemptionMode.Swap, true, true, 3, 14)]
    public void Random_traffic_keeps_block_accounting_exact_and_returns_every_block(int seed, PreemptionMode mode, bool prefixCaching, bool chunked, int inFlight,
        int slidingBlocks = 0)
    {
        const int requests = 2500, blockSize = 4, maxModelLength = 64;
        var random = new Random(seed);
        var settings = Settings(
            budget: chunked ? 40 : 64, maxRunning: 12, maxWaiting: 30, blockSize: blockSize, blocks: 48, maxModelLength: maxModelLength,
            chunked: chunked, prefixCaching: prefixCaching, mode: mode, inFlight: inFlight, longPrefill: chunked ? 24 : null,
            swapBlocks: mode == PreemptionMode.Swap ? 20 : 0, priorityPreemptions: 1) with
        { NumSlidingBlocks = slidingBlocks, SlidingWindow = slidingBlocks > 0 ? 6 : 0 };
        var policy = new SchedulerPolicy(settings);
        var spec = new KvCacheSpec(blockSize, settings.NumBlocks, KvHeads: 1, HeadDim: 1) { SlidingNumBlocks = slidingBlocks };
        var batch = new StepBatch();
        int[][] prefixes = Enumerable.Range(0, 4).Select(_ => RandomTokens(random, random.Next(0, 20))).ToArray();

        var live = new HashSet<long>();
        var inFlightSteps = new Queue<ScheduledStep>();
        var inFlightIds = new HashSet<long>();
        var now = TimeSpan.Zero;
        long nextId = 1;
        int submitted = 0, finished = 0, aborted = 0, rejected = 0, forked = 0;

        for (int iteration = 0; submitted < requests || live.Count > 0 || inFlightSteps.Count > 0; iteration++)
        {
            Assert.True(iteration < 1_000_000, "the scheduler stopped making progress");
            now += TimeSpan.FromMilliseconds(10);

            for (int a = random.Next(0, 4) == 0 ? 1 : 0; a > 0 && submitted < requests; a--, submitted++)
            {
                var request = RandomRequest(random, nextId, prefixes, maxModelLength, now);
                nextId += 1 + request.Forks.Length;
                var admission = policy.TryAdd(request);
                if (admission.IsAccepted)
                {
                    Assert.True(live.Add(request.Id));
                    foreach (var fork in request.Forks) Assert.True(live.Add(fork.Id)); // each ends on its own: finished or aborted
                }
                else
                {
                    Assert.Equal(AdmissionStatus.QueueFull, admission.Status);
                    rejected++;
                }
            }
            if (live.Count > 0 && random.NextDouble() < 0.03)
            {
                long victim = live.ElementAt(random.Next(live.Count));
                Assert.True(policy.Abort(victim, AbortReason.Cancelled));
                live.Remove(victim);
                aborted++;
            }
            policy.CheckInvariants();

            bool schedule = policy.CanSchedule && policy.HasSchedulableWork && (inFlightSteps.Count == 0 || random.Next(2) == 0);
            if (schedule)
            {
                var step = policy.Schedule();
                policy.CheckInvariants();
                Assert.InRange(step.TotalTokens, 0, settings.MaxBatchedTokens);
                foreach (var preemption in step.Preempted)
                {
                    Assert.Contains(preemption.Id, live);
                    Assert.DoesNotContain(preemption.Id, inFlightIds); // never preempt what the device is computing
                }
                foreach (var sequence in step.Sequences)
                {
                    Assert.True(inFlightIds.Add(sequence.Id), $"sequence {sequence.Id} is in two steps in flight");
                    Assert.Contains(sequence.Id, live);
                }
                if (step.Sequences.Length > 0)
                {
                    StepBatchFiller.Fill(step, batch);
                    batch.Validate(spec, Vocabulary);
                }
                inFlightSteps.Enqueue(step);
            }
            else if (inFlightSteps.Count > 0)
            {
                var step = inFlightSteps.Dequeue();
                foreach (var sequence in step.Sequences) inFlightIds.Remove(sequence.Id);
                var sampled = Enumerable.Range(0, step.LogitCount).Select(_ => random.Next(0, 40) == 0 ? EosToken : random.Next(2, Vocabulary)).ToArray();
                var result = policy.Update(step, sampled);
                forked += result.Forked.Length;
                foreach (var done in result.Finished)
                {
                    Assert.True(live.Remove(done.Id), $"finished {done.Id}, which was not live");
                    finished++;
                }
                policy.CheckInvariants();
            }
        }

        Assert.Equal(0, policy.LiveCount);
        Assert.Equal(settings.NumBlocks, policy.BlockPool.FreeCount);
        Assert.Equal(0, policy.BlockPool.UsedCount);
        if (policy.HostBlockPool != null) Assert.Equal(settings.NumSwapBlocks, policy.HostBlockPool.FreeCount);
        if (policy.SlidingBlockPool != null) Assert.Equal(slidingBlocks, policy.SlidingBlockPool.FreeCount);
        policy.CheckInvariants();
        output.WriteLine($"finished {finished}, rejected {rejected}, aborted {aborted}, forked {forked}, " +
                         $"preemptions {policy.TotalPreemptions}, prefix hits {policy.BlockPool.Hits}/{policy.BlockPool.Queries}, evictions {policy.BlockPool.Evictions}");
        // The run must really have exercised the paths it is meant to check.
        // More than a third: with several steps in flight each step carries a share of the running sequences
        // (micro-batches), so in this driver, which often applies steps one by one, more reach their deadline.
        Assert.True(finished > requests / 3, $"only {finished} finished");
        Assert.True(aborted > 0, $"aborted {aborted}");
        Assert.True(forked > 0, "no fork started");
        Assert.True(policy.TotalPreemptions > 0, "no preemption happened");
        if (prefixCaching) Assert.True(policy.BlockPool.Hits > 0, "no prefix-cache hit happened");
    }

    private static SequenceRequest RandomRequest(Random random, long id, int[][] prefixes, int maxModelLength, TimeSpan now)
    {
        var prefix = prefixes[random.Next(prefixes.Length)];
        var prompt = prefix.Concat(RandomTokens(random, random.Next(1, 24))).ToArray();
        int maxNew = Math.Min(random.Next(1, 24), maxModelLength - prompt.Length);
        var request = new SequenceRequest(id, prompt, maxNew, Priority: random.Next(0, 3), ArrivalTime: now)
        {
            EosTokenId = random.Next(4) == 0 ? null : EosToken,
            IgnoreEos = random.Next(10) == 0,
        };
        // One request in five has 1-3 forks (parallel sampling): shared prompt blocks, copy-on-write, forks aborted on their own.
        if (random.Next(5) == 0)
            request = request with { Forks = Enumerable.Range(1, random.Next(1, 4)).Select(i => request with { Id = id + i }).ToArray() };
        return request;
    }

    private static int[] RandomTokens(Random random, int count) => Enumerable.Range(0, count).Select(_ => random.Next(2, 40)).ToArray();
}
