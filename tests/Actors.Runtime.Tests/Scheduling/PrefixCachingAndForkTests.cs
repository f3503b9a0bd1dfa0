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

}
