using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class AllocationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>
    /// Steady state: a full running set under block pressure (so preemption, swap, prefix hits and
    /// evictions all happen), finished requests re-submitted; after warm-up, Schedule + Update + TryAdd
    /// allocate nothing on the calling thread.
    /// </summary>
    [Theory]
    [InlineData(PreemptionMode.Recompute)]
    [InlineData(PreemptionMode.Swap)]
    public void Steady_state_schedule_and_update_allocate_nothing(PreemptionMode mode)
    {
        var settings = Settings(budget: 256, maxRunning: 32, maxWaiting: 64, blockSize: 16, blocks: 48, maxModelLength: 128,
            prefixCaching: true, mode: mode, swapBlocks: mode == PreemptionMode.Swap ? 32 : 0);
        var policy = new SchedulerPolicy(settings);
        var shared = Enumerable.Range(500, 32).ToArray();
        var requests = new SequenceRequest[96];
        for (int i = 0; i < requests.Length; i++)
        {
            var prompt = shared.Concat(Enumerable.Range(i * 100, 8 + i % 24)).ToArray();
            requests[i] = new SequenceRequest(i, prompt, MaxNewTokens: 16 + i % 32, Priority: i % 3, ArrivalTime: TimeSpan.FromTicks(i));
        }
        foreach (var request in requests) policy.TryAdd(request);
        var sampled = Enumerable.Repeat(42, settings.MaxRunningSequences).ToArray();

        void RunSteps(int count)
        {
            for (int s = 0; s < count; s++)
            {
                var step = policy.Schedule();
                var result = policy.Update(step, sampled.AsSpan(0, step.LogitCount));
                foreach (var done in result.Finished) policy.TryAdd(requests[done.Id]);
            }
        }

        RunSteps(2000);
        long preemptionsBefore = policy.TotalPreemptions;
        long before = GC.GetAllocatedBytesForCurrentThread();
        RunSteps(1000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        output.WriteLine($"allocated {allocated} B; preemptions {policy.TotalPreemptions} ({preemptionsBefore} in warm-up); running {policy.RunningCount}, waiting {policy.WaitingCount}, swapped {policy.SwappedCount}; free blocks {policy.BlockPool.FreeCount}; hits {policy.BlockPool.Hits}");
        Assert.Equal(0, allocated);
        Assert.True(policy.TotalPreemptions > preemptionsBefore, "the measured steps should include preemptions");
        Assert.True(policy.BlockPool.Hits > 0);
        policy.CheckInvariants();
    }

    /// <summary>
    /// Sequences with forks decoding side by side (shared prompt blocks, copy-on-write done): once every
    /// fork has started, Schedule + Update allocate nothing.
    /// </summary>
    [Fact]
    public void Decoding_forked_sequences_allocates_nothing()
    {
        var settings = Settings(budget: 256, maxRunning: 32, maxWaiting: 64, blockSize: 16, blocks: 1024, maxModelLength: 2048, prefixCaching: true);
        var policy = new SchedulerPolicy(settings);
        for (int g = 0; g < 4; g++)
        {
            int[] prompt = Enumerable.Range(g * 1000, 37).ToArray();
            policy.TryAdd(new SequenceRequest(g * 10, prompt, 1000, ArrivalTime: TimeSpan.FromTicks(g))
            {
                Forks = Enumerable.Range(1, 3).Select(i => new SequenceRequest(g * 10 + i, prompt, 1000, ArrivalTime: TimeSpan.FromTicks(g))).ToArray(),
            });
        }
        var sampled = Enumerable.Repeat(42, settings.MaxRunningSequences).ToArray();
        void RunSteps(int count)
        {
            for (int s = 0; s < count; s++)
            {
                var step = policy.Schedule();
                policy.Update(step, sampled.AsSpan(0, step.LogitCount));
            }
        }
        // Warm-up past 256 tokens: block tables grow (doubling) to 32 blocks, enough for the 512 tokens measured.
        RunSteps(300);
        Assert.Equal(16, policy.RunningCount);
        long before = GC.GetAllocatedBytesForCurrentThread();
        RunSteps(150);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        policy.CheckInvariants();
    }
}
