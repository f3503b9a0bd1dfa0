using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

/// <summary>A sequence with forks (OpenAI's n): the prompt is computed once and its KV blocks shared.</summary>
public class ParallelSamplingTests
{
    private static readonly int[] Prompt = Enumerable.Range(500, 10).ToArray(); // 10 tokens: blocks of 4, 4 and 2 (block size 4)

    private static SequenceRequest WithForks(long id, int[] prompt, int forks, int maxNewTokens = 4) =>
        new(id, prompt, maxNewTokens, ArrivalTime: TimeSpan.FromSeconds(1))
        {
            Forks = Enumerable.Range(1, forks).Select(i => new SequenceRequest(id + i, prompt, maxNewTokens, ArrivalTime: TimeSpan.FromSeconds(1))).ToArray(),
        };

    private static void RunToEnd(SchedulerPolicy policy, List<ScheduledSequence>? seen = null)
    {
        for (int guard = 0; policy.LiveCount > 0 && guard < 200; guard++)
        {
            var step = policy.Schedule();
            policy.CheckInvariants();
            seen?.AddRange(step.Sequences.ToArray());
            policy.Complete(step);
        }
        Assert.Equal(0, policy.LiveCount);
    }

    [Fact]
    public void Prompt_is_computed_once_and_each_of_four_sequences_computes_only_its_last_prompt_token()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4));
        policy.Add(WithForks(1, Prompt, forks: 3));

        var first = policy.Schedule();
        Assert.Equal((1L, 0, 9, false), (first.Of(1).Id, first.Of(1).StartPosition, first.Of(1).TokenCount, first.Of(1).NeedsLogits));
        var result = policy.Complete(first);
        Assert.Equal([2L, 3L, 4L], result.Forked.ToArray().Select(f => f.Id).ToArray());
        Assert.All(result.Forked.ToArray(), f => Assert.Equal(1, f.ParentId));

        var second = policy.Schedule();
        policy.CheckInvariants();
        Assert.Equal([1L, 2L, 3L, 4L], second.Ids().Order().ToArray());
        Assert.All(second.Sequences.ToArray(), s => Assert.Equal((9, 1, true), (s.StartPosition, s.TokenCount, s.NeedsLogits)));
        Assert.Equal(4, second.LogitCount);
        // The two full blocks are shared by all four; the partly filled third is copied by three and written in place by the last.
        var tables = Enumerable.Range(0, 4).Select(i => second.BlockTableOf(i).ToArray()).ToArray();
        Assert.All(tables, t => Assert.Equal(tables[0][..2], t[..2]));
        Assert.Equal(4, tables.Select(t => t[2]).Distinct().Count());
        Assert.Equal(3, second.BlockCopies.Length);
        Assert.Equal(4, policy.BlockPool.RefCount(tables[0][0]));
        Assert.Equal(6, policy.BlockPool.UsedCount);
        policy.Complete(second);

        var all = new List<ScheduledSequence>(first.Sequences.Length);
        RunToEnd(policy, all);
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
    }

    [Fact]
    public void Prompt_tokens_computed_for_four_sequences_are_the_prompt_plus_one_per_fork()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, longPrefill: 4)); // chunked: the prompt takes several steps
        policy.Add(WithForks(1, Prompt, forks: 3, maxNewTokens: 3));
        var seen = new List<ScheduledSequence>();
        RunToEnd(policy, seen);
        int promptTokens = seen.Sum(s => Math.Max(0, Math.Min(s.StartPosition + s.TokenCount, Prompt.Length) - s.StartPosition));
        Assert.Equal(Prompt.Length + 3, promptTokens);
        Assert.Equal(4 * 3, seen.Count(s => s.NeedsLogits));
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
    }

    [Fact]
    public void Aborting_one_fork_frees_only_its_own_blocks_and_the_others_finish()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4));
        policy.Add(WithForks(1, Prompt, forks: 3, maxNewTokens: 6));
        policy.Step();
        policy.Step();
        int used = policy.BlockPool.UsedCount;
        Assert.True(policy.Abort(3, AbortReason.Cancelled));
        policy.CheckInvariants();
        Assert.Equal(used - 1, policy.BlockPool.UsedCount); // its private copy of the last block; the shared ones stay
        Assert.Equal(3, policy.LiveCount);
        RunToEnd(policy);
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
    }

    [Fact]
    public void Aborting_the_parent_before_the_fork_hands_the_prompt_to_its_first_pending_fork()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, longPrefill: 4));
        policy.Add(WithForks(1, Prompt, forks: 2));
        policy.Step();
        Assert.True(policy.Abort(1, AbortReason.Cancelled));
        policy.CheckInvariants();
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
        Assert.Equal(1, policy.LiveCount); // fork 2 now computes the prompt, fork 3 still waits for it
        Assert.True(policy.Contains(3));
        var forked = new List<long>();
        var seen = new List<ScheduledSequence>();
        for (int guard = 0; policy.LiveCount > 0 && guard < 100; guard++)
        {
            var step = policy.Schedule();
            seen.AddRange(step.Sequences.ToArray());
            forked.AddRange(policy.Complete(step).Forked.ToArray().Select(f => f.Id));
        }
        Assert.Equal([3L], forked);
        Assert.Equal(Prompt.Length + 1, seen.Where(s => s.Id is 2 or 3).Sum(s => Math.Max(0, Math.Min(s.StartPosition + s.TokenCount, Prompt.Length) - s.StartPosition)));
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
    }

    [Fact]
    public void A_fork_aborted_before_it_starts_never_starts()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, longPrefill: 4));
        policy.Add(WithForks(1, Prompt, forks: 2));
        Assert.True(policy.Abort(2, AbortReason.Cancelled));
        var forked = new List<long>();
        for (int i = 0; i < 3; i++)
        {
            var step = policy.Schedule();
            forked.AddRange(policy.Complete(step).Forked.ToArray().Select(f => f.Id));
        }
        Assert.Equal([3L], forked);
        RunToEnd(policy);
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
    }

    [Fact]
    public void Forks_of_a_one_token_prompt_run_as_independent_sequences()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4));
        policy.Add(WithForks(1, [42], forks: 2));
        var step = policy.Schedule();
        Assert.Equal([1L, 2L, 3L], step.Ids().Order().ToArray());
        policy.Complete(step);
        RunToEnd(policy);
    }

    [Fact]
    public void A_fork_with_a_different_prompt_or_a_taken_id_is_rejected()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4));
        var bad = new SequenceRequest(1, Prompt, 4) { Forks = [new SequenceRequest(2, Prompt[..5], 4)] };
        Assert.Contains("different prompt", policy.TryAdd(bad).Message);
        var clash = new SequenceRequest(1, Prompt, 4) { Forks = [new SequenceRequest(1, Prompt, 4)] };
        Assert.Equal(AdmissionStatus.DuplicateId, policy.TryAdd(clash).Status);
        Assert.Equal(0, policy.LiveCount);
    }

    [Fact]
    public void A_prompt_whose_fork_point_is_all_cached_still_computes_a_block_before_forking()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, prefixCaching: true));
        int[] prompt = Enumerable.Range(700, 9).ToArray(); // fork point 8 = two full blocks
        policy.Add(new SequenceRequest(9, prompt, 1));
        RunToEnd(policy);
        policy.Add(WithForks(1, prompt, forks: 1));
        var step = policy.Schedule();
        Assert.Equal((4, 4), (step.Of(1).StartPosition, step.Of(1).TokenCount));
        Assert.Single(policy.Complete(step).Forked.ToArray());
        RunToEnd(policy);
    }

    [Theory]
    [InlineData(PreemptionMode.Recompute, 0)]
    [InlineData(PreemptionMode.Swap, 32)]
    public void Forks_short_of_blocks_are_preempted_and_still_finish_with_every_block_returned(PreemptionMode mode, int swapBlocks)
    {
        // 8 blocks of 4: four sequences of 10 + 12 tokens cannot all hold their blocks at once.
        var policy = new SchedulerPolicy(Settings(blockSize: 4, blocks: 8, mode: mode, swapBlocks: swapBlocks));
        policy.Add(WithForks(1, Prompt, forks: 3, maxNewTokens: 12));
        RunToEnd(policy);
        Assert.True(policy.TotalPreemptions > 0);
        Assert.Equal(policy.BlockPool.NumBlocks, policy.BlockPool.FreeCount);
    }
}
