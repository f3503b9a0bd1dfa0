using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class PrefixCachingAndForkTests
{
    private static SequenceRequest WithPrompt(long id, int[] prompt, int maxNewTokens = 4) =>
        new(id, prompt, maxNewTokens, ArrivalTime: TimeSpan.FromSeconds(id));

    [Fact]
    public void Second_request_with_a_shared_prefix_starts_after_the_cached_full_blocks()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, prefixCaching: true));
        policy.Add(WithPrompt(1, Enumerable.Range(0, 10).ToArray()));
        policy.Step(); // computes 10 tokens: blocks [0-3] and [4-7] are full and get cached
        policy.Add(WithPrompt(2, [0, 1, 2, 3, 4, 5, 6, 7, 50, 51, 52]));
        var step = policy.Schedule();
        var second = step.Of(2);
        Assert.Equal((8, 3, true, true), (second.StartPosition, second.TokenCount, second.NeedsLogits, second.IsFirstStep));
        Assert.Equal(step.BlockTableOf(step.IndexOf(1))[..2].ToArray(), step.BlockTableOf(step.IndexOf(2))[..2].ToArray());
        Assert.Equal(2, policy.BlockPool.Hits);
        Assert.Equal(2, policy.BlockPool.RefCount(step.BlockTableOf(step.IndexOf(2))[0]));
        policy.Complete(step);
    }

    [Fact]
    public void Blocks_of_a_finished_sequence_stay_cached_and_serve_a_later_identical_prompt()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, prefixCaching: true));
        int[] prompt = Enumerable.Range(100, 9).ToArray();
        policy.Add(WithPrompt(1, prompt, maxNewTokens: 1));
        policy.Step();
        Assert.Equal(0, policy.LiveCount);
        Assert.Equal(2, policy.BlockPool.CachedFreeCount);
        policy.Add(WithPrompt(2, prompt, maxNewTokens: 1));
        var step = policy.Schedule();
        Assert.Equal(8, step.Of(2).StartPosition);
        Assert.Equal(0, policy.BlockPool.CachedFreeCount);
        policy.Complete(step);
    }

    [Fact]
    public void Prompt_that_is_entirely_cached_still_computes_its_last_token()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, prefixCaching: true));
        int[] prompt = Enumerable.Range(0, 8).ToArray();
        policy.Add(WithPrompt(1, prompt.Concat(new[] { 99 }).ToArray()));
        policy.Step();
        policy.Add(WithPrompt(2, prompt));
        var step = policy.Schedule();
        Assert.Equal((4, 4, true), (step.Of(2).StartPosition, step.Of(2).TokenCount, step.Of(2).NeedsLogits));
        policy.Complete(step);
    }

    [Fact]
    public void Blocks_are_cached_only_after_the_step_that_computes_them_is_applied()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, prefixCaching: true, inFlight: 2));
        int[] prompt = Enumerable.Range(0, 9).ToArray();
        policy.Add(WithPrompt(1, prompt));
        var first = policy.Schedule();
        Assert.Equal(0, policy.BlockPool.CachedCount);
        policy.Add(WithPrompt(2, prompt));
        var second = policy.Schedule(); // step 1 is still in flight: its KV is not there yet
        Assert.Equal(0, second.Of(2).StartPosition);
        policy.Complete(first);
        Assert.Equal(2, policy.BlockPool.CachedCount);
        policy.Complete(second);
    }

    [Fact]
    public void Fork_shares_blocks_and_the_first_writer_into_the_shared_partial_block_gets_a_copy()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4));
        policy.Add(Request(1, 6, maxNewTokens: 8));
        policy.Step(token: 9);
        Assert.True(policy.TryFork(1, 2, lastToken: 10));
        policy.CheckInvariants();

        var step = policy.Schedule();
        Assert.Equal(new long[] { 1, 2 }, step.Ids());
        Assert.Equal(new[] { 9 }, step.TokensOf(step.IndexOf(1)).ToArray());
        Assert.Equal(new[] { 10 }, step.TokensOf(step.IndexOf(2)).ToArray());
        Assert.True(step.Of(2).IsFirstStep);
        var parentTable = step.BlockTableOf(step.IndexOf(1)).ToArray();
        var childTable = step.BlockTableOf(step.IndexOf(2)).ToArray();
        var copy = Assert.Single(step.BlockCopies.ToArray());
        Assert.Equal(childTable[1], copy.Source); // the child keeps the original, now its alone
        Assert.Equal(parentTable[1], copy.Destination); // the parent wrote first and got the copy
        Assert.Equal(parentTable[0], childTable[0]); // the full block stays shared
        Assert.Equal(2, policy.BlockPool.RefCount(parentTable[0]));
        policy.Complete(step);
    }

    [Fact]
    public void Fork_is_refused_while_the_parent_is_in_a_step_in_flight()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4));
        var step = policy.Schedule();
        Assert.False(policy.TryFork(1, 2));
        policy.Complete(step);
        Assert.True(policy.TryFork(1, 2));
        Assert.False(policy.TryFork(1, 2)); // the id is taken now
    }
}
