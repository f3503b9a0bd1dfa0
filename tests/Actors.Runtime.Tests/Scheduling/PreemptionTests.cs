using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class PreemptionTests
{
    /// <summary>
    /// Three 7-token prompts in a 6-block pool (block size 4): each holds 2 blocks and the pool is
    /// full. After one decode each has computed 8 tokens; the next decode needs a third block.
    /// </summary>
    private static SchedulerPolicy FullPool(PreemptionMode mode = PreemptionMode.Recompute, int swapBlocks = 0, int maxNewOfFirst = 3,
        double swapSecondsPerBlock = 0)
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, blocks: 6, maxModelLength: 32, mode: mode, swapBlocks: swapBlocks, swapSecondsPerBlock: swapSecondsPerBlock));
        policy.Add(Request(1, 7, maxNewTokens: maxNewOfFirst, priority: 0, arrivalSeconds: 0));
        policy.Add(Request(2, 7, maxNewTokens: 8, priority: 1, arrivalSeconds: 1));
        policy.Add(Request(3, 7, maxNewTokens: 8, priority: 1, arrivalSeconds: 3));
        Assert.Equal(new long[] { 1, 2, 3 }, policy.Step());
        Assert.Equal(new long[] { 1, 2, 3 }, policy.Step());
        Assert.Equal(0, policy.BlockPool.FreeCount);
        return policy;
    }

    [Fact]
    public void Scheduler_preempts_lowest_priority_latest_arrival_when_blocks_run_out()
    {
        var policy = FullPool();
        var step = policy.Schedule();
        Assert.Equal(new long[] { 1, 2 }, step.Ids());
        Assert.Equal(new Preemption(3, PreemptionMode.Recompute), Assert.Single(step.Preempted.ToArray()));
        Assert.Equal(1, policy.WaitingCount);
        Assert.Equal(1, policy.TotalPreemptions);
        policy.CheckInvariants();
        policy.Complete(step);
    }

    [Fact]
    public void Preempted_sequence_is_recomputed_with_its_generated_tokens_as_prompt()
    {
        var policy = FullPool();
        policy.Complete(policy.Schedule(), token: 9); // 3 preempted after generating two 7s; 1 finishes (3 tokens)
        var step = policy.Schedule();
        Assert.Equal(new long[] { 2, 3 }, step.Ids());
        var recompute = step.Of(3);
        Assert.True(recompute.IsFirstStep);
        Assert.Equal((0, 9, true), (recompute.StartPosition, recompute.TokenCount, recompute.NeedsLogits));
        var tokens = step.TokensOf(step.IndexOf(3)).ToArray();
        Assert.Equal(Request(3, 7).PromptTokens.ToArray().Concat(new[] { 7, 7 }), tokens);
        Assert.Equal(7, recompute.PromptLength);
        policy.Complete(step);
    }

    [Fact]
    public void Preempted_sequence_goes_back_ahead_of_requests_of_its_priority_that_arrived_earlier_but_never_started()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, blocks: 6, maxModelLength: 32, maxRunning: 3));
        policy.Add(Request(1, 7, maxNewTokens: 3, priority: 0, arrivalSeconds: 0));
        policy.Add(Request(2, 7, maxNewTokens: 8, priority: 1, arrivalSeconds: 1));
        policy.Add(Request(3, 7, maxNewTokens: 8, priority: 1, arrivalSeconds: 3));
        policy.Step();
        policy.Add(Request(4, 3, maxNewTokens: 8, priority: 1, arrivalSeconds: 2)); // earlier than 3, but waits: running limit
        policy.Step();
        var preempting = policy.Schedule();
        Assert.Equal(3, Assert.Single(preempting.Preempted.ToArray()).Id);
        policy.Complete(preempting); // 1 finishes, freeing 3 blocks
        var step = policy.Schedule();
        Assert.Contains(3L, step.Ids());
        Assert.DoesNotContain(4L, step.Ids()); // 4 arrived before 3 but had not started
        policy.Complete(step);
    }

    [Fact]
    public void Sequence_preempts_itself_rather_than_a_more_important_one()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, blocks: 4, maxModelLength: 16));
        policy.Add(Request(1, 5, maxNewTokens: 4, priority: 0));
        policy.Add(Request(2, 8, maxNewTokens: 4, priority: 1));
        policy.Step();
        var step = policy.Schedule(); // 2 needs a third block; only the more important 1 could give one
        Assert.Equal(new long[] { 1 }, step.Ids());
        Assert.Equal(2, Assert.Single(step.Preempted.ToArray()).Id);
        policy.Complete(step);
    }

    [Fact]
    public void Nothing_is_admitted_in_a_step_that_had_to_preempt_for_blocks()
    {
        var policy = FullPool();
        policy.Add(Request(9, 1, maxNewTokens: 1, priority: 0, arrivalSeconds: 0.5));
        var step = policy.Schedule();
        Assert.DoesNotContain(9L, step.Ids());
        Assert.DoesNotContain(3L, step.Ids());
        policy.Complete(step);
    }

    [Fact]
    public void More_important_waiting_request_preempts_the_least_important_running_one_when_the_running_limit_is_reached()
    {
        var policy = new SchedulerPolicy(Settings(maxRunning: 2));
        policy.Add(Request(1, 4, priority: 5));
        policy.Add(Request(2, 4, priority: 5));
        policy.Step();
        policy.Add(Request(3, 4, priority: 0));
        var step = policy.Schedule();
        Assert.Equal(new Preemption(2, PreemptionMode.Recompute), Assert.Single(step.Preempted.ToArray()));
        Assert.Equal(new long[] { 1, 3 }, step.Ids());
        policy.Complete(step);
    }

    [Fact]
    public void Priority_preemption_is_bounded_per_step_to_avoid_thrash()
    {
        var policy = new SchedulerPolicy(Settings(maxRunning: 2, priorityPreemptions: 1));
        policy.Add(Request(1, 4, priority: 5));
        policy.Add(Request(2, 4, priority: 5));
        policy.Step();
        policy.Add(Request(3, 4, priority: 0));
        policy.Add(Request(4, 4, priority: 0));
        var first = policy.Schedule();
        Assert.Single(first.Preempted.ToArray());
        Assert.Equal(new long[] { 1, 3 }, first.Ids());
        policy.Complete(first);
        var second = policy.Schedule();
        Assert.Equal(1, Assert.Single(second.Preempted.ToArray()).Id);
        Assert.Equal(new long[] { 3, 4 }, second.Ids());
        policy.Complete(second);
    }

    [Fact]
    public void Equal_priority_never_preempts_a_running_sequence()
    {
        var policy = new SchedulerPolicy(Settings(maxRunning: 2));
        policy.Add(Request(1, 4, priority: 3));
        policy.Add(Request(2, 4, priority: 3));
        policy.Step();
        policy.Add(Request(3, 4, priority: 3));
        var step = policy.Schedule();
        Assert.Empty(step.Preempted.ToArray());
        Assert.Equal(new long[] { 1, 2 }, step.Ids());
        policy.Complete(step);
    }

    [Fact]
    public void Swap_mode_moves_the_victim_to_host_blocks_and_resumes_it_without_recomputing()
    {
        var policy = FullPool(PreemptionMode.Swap, swapBlocks: 8);
        var swapping = policy.Schedule();
        Assert.Equal(new Preemption(3, PreemptionMode.Swap), Assert.Single(swapping.Preempted.ToArray()));
        Assert.Equal(2, swapping.SwapOut.Length); // 8 computed tokens = 2 blocks
        Assert.Equal(1, policy.SwappedCount);
        Assert.Equal(0, policy.WaitingCount);
        Assert.Equal(2, policy.HostBlockPool!.UsedCount);
        var swappedHostBlocks = swapping.SwapOut.ToArray().Select(c => c.Destination).ToArray();
        policy.CheckInvariants();
        policy.Complete(swapping); // 1 finishes: 3 blocks free

        var resuming = policy.Schedule();
        Assert.Equal(new long[] { 2, 3 }, resuming.Ids());
        var resumed = resuming.Of(3);
        Assert.Equal((8, 1, true, false, 0), (resumed.StartPosition, resumed.TokenCount, resumed.NeedsLogits, resumed.IsFirstStep, resumed.BlocksChangedFrom));
        Assert.Equal(swappedHostBlocks, resuming.SwapIn.ToArray().Select(c => c.Source).ToArray());
        Assert.Equal(resuming.BlockTableOf(resuming.IndexOf(3))[..2].ToArray(), resuming.SwapIn.ToArray().Select(c => c.Destination).ToArray());
        Assert.Equal(0, policy.HostBlockPool.UsedCount);
        Assert.Equal(0, policy.SwappedCount);
        policy.Complete(resuming);
    }

    [Fact]
    public void Aborting_a_swapped_out_sequence_frees_its_host_blocks()
    {
        var policy = FullPool(PreemptionMode.Swap, swapBlocks: 8);
        policy.Complete(policy.Schedule());
        Assert.Equal(1, policy.SwappedCount);
        Assert.True(policy.Abort(3, AbortReason.Cancelled));
        Assert.Equal(0, policy.SwappedCount);
        Assert.Equal(0, policy.HostBlockPool!.UsedCount);
        policy.CheckInvariants();
    }

    [Fact]
    public void Swap_mode_falls_back_to_recompute_when_host_blocks_run_out()
    {
        var policy = FullPool(PreemptionMode.Swap, swapBlocks: 1);
        var step = policy.Schedule();
        Assert.Equal(new Preemption(3, PreemptionMode.Recompute), Assert.Single(step.Preempted.ToArray()));
        Assert.Empty(step.SwapOut.ToArray());
        Assert.Equal(1, policy.WaitingCount);
        policy.Complete(step);
    }

    [Theory]
    // The victim has 8 computed tokens in 2 blocks: swapping costs 2 x 1 ms.
    [InlineData(0.0, PreemptionMode.Recompute)]      // no prefill rate measured yet: recompute
    [InlineData(0.1e-3, PreemptionMode.Recompute)]   // 8 x 0.1 ms = 0.8 ms < 2 ms
    [InlineData(1e-3, PreemptionMode.Swap)]          // 8 x 1 ms = 8 ms > 2 ms
    public void Auto_mode_swaps_only_when_moving_the_blocks_is_cheaper_than_recomputing_the_tokens(double recomputePerToken, PreemptionMode expected)
    {
        var policy = FullPool(PreemptionMode.Auto, swapBlocks: 8, swapSecondsPerBlock: 1e-3);
        policy.RecomputeSecondsPerToken = recomputePerToken;
        var step = policy.Schedule();
        Assert.Equal(new Preemption(3, expected), Assert.Single(step.Preempted.ToArray()));
        Assert.Equal(expected == PreemptionMode.Swap ? 2 : 0, step.SwapOut.Length);
        policy.CheckInvariants();
        policy.Complete(step);
    }

    [Fact]
    public void Auto_mode_recomputes_when_host_blocks_run_out()
    {
        var policy = FullPool(PreemptionMode.Auto, swapBlocks: 1, swapSecondsPerBlock: 1e-6);
        policy.RecomputeSecondsPerToken = 1e-3;
        var step = policy.Schedule();
        Assert.Equal(new Preemption(3, PreemptionMode.Recompute), Assert.Single(step.Preempted.ToArray()));
        policy.Complete(step);
    }
}
