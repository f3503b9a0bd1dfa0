using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class BudgetTests
{
    [Fact]
    public void Scheduler_serves_running_decodes_before_new_prompts_and_chunks_the_prompt_into_the_rest_of_the_budget()
    {
        var policy = new SchedulerPolicy(Settings(budget: 10));
        for (long id = 1; id <= 3; id++) policy.Add(Request(id, 2));
        Assert.Equal(new long[] { 1, 2, 3 }, policy.Step());

        policy.Add(Request(4, 20));
        var step = policy.Schedule();
        Assert.Equal(new long[] { 1, 2, 3, 4 }, step.Ids());
        for (long id = 1; id <= 3; id++)
        {
            var decode = step.Of(id);
            Assert.Equal((2, 1, true), (decode.StartPosition, decode.TokenCount, decode.NeedsLogits));
        }
        var chunk = step.Of(4);
        Assert.Equal((0, 7, false, true), (chunk.StartPosition, chunk.TokenCount, chunk.NeedsLogits, chunk.IsFirstStep));
        Assert.Equal(10, step.TotalTokens);
        Assert.Equal(3, step.LogitCount);
        policy.Complete(step);
    }

    [Fact]
    public void Chunked_prefill_continues_a_partial_prompt_before_admitting_waiting_ones_and_samples_only_after_the_last_chunk()
    {
        var policy = new SchedulerPolicy(Settings(budget: 8));
        policy.Add(Request(1, 20));
        policy.Add(Request(2, 3));
        var first = policy.Schedule();
        Assert.Equal(new long[] { 1 }, first.Ids());
        Assert.Equal((0, 8, false), (first.Of(1).StartPosition, first.Of(1).TokenCount, first.Of(1).NeedsLogits));
        policy.Complete(first);

        var second = policy.Schedule();
        Assert.Equal(new long[] { 1 }, second.Ids()); // the partial prefill takes the whole budget; 2 waits
        Assert.Equal((8, 8, false, false), (second.Of(1).StartPosition, second.Of(1).TokenCount, second.Of(1).NeedsLogits, second.Of(1).IsFirstStep));
        policy.Complete(second);

        var third = policy.Schedule();
        Assert.Equal(new long[] { 1, 2 }, third.Ids());
        Assert.Equal((16, 4, true), (third.Of(1).StartPosition, third.Of(1).TokenCount, third.Of(1).NeedsLogits));
        Assert.Equal((0, 3, true), (third.Of(2).StartPosition, third.Of(2).TokenCount, third.Of(2).NeedsLogits));
        var result = policy.Complete(third, token: 5);
        Assert.Equal(2, result.Appended.Length);
    }

    [Fact]
    public void Without_chunked_prefill_a_prompt_that_does_not_fit_the_remaining_budget_waits_and_so_do_later_ones()
    {
        var policy = new SchedulerPolicy(Settings(budget: 32, maxModelLength: 32, chunked: false));
        foreach (long id in new long[] { 1, 5, 6 }) policy.Add(Request(id, 2, maxNewTokens: 3));
        Assert.Equal(new long[] { 1, 5, 6 }, policy.Step());
        policy.Add(Request(2, 30, maxNewTokens: 2));
        policy.Add(Request(3, 2, maxNewTokens: 2));
        // Three decode tokens leave 29: the 30-token prompt waits whole, and 3 waits behind it.
        Assert.Equal(new long[] { 1, 5, 6 }, policy.Step());
        Assert.Equal(new long[] { 1, 5, 6 }, policy.Step()); // they reach max tokens
        var step = policy.Schedule();
        Assert.Equal(new long[] { 2, 3 }, step.Ids());
        Assert.Equal(30, step.Of(2).TokenCount);
        Assert.True(step.Of(2).NeedsLogits);
        policy.Complete(step);
    }

    [Fact]
    public void Long_prefill_threshold_caps_one_sequence_share_of_a_step()
    {
        var policy = new SchedulerPolicy(Settings(budget: 64, longPrefill: 8));
        policy.Add(Request(1, 20));
        policy.Add(Request(2, 5));
        var step = policy.Schedule();
        Assert.Equal(8, step.Of(1).TokenCount);
        Assert.Equal(5, step.Of(2).TokenCount);
        policy.Complete(step);
    }

    [Fact]
    public void Running_sequence_limit_caps_admission()
    {
        var policy = new SchedulerPolicy(Settings(maxRunning: 2));
        for (long id = 1; id <= 3; id++) policy.Add(Request(id, 2, maxNewTokens: 2));
        Assert.Equal(new long[] { 1, 2 }, policy.Step());
        Assert.Equal(new long[] { 1, 2 }, policy.Step()); // both finish (2 tokens)
        Assert.Equal(new long[] { 3 }, policy.Step());
    }

    [Fact]
    public void Waiting_sequences_start_by_priority_then_arrival()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 2, priority: 5, arrivalSeconds: 1));
        policy.Add(Request(2, 2, priority: 0, arrivalSeconds: 2));
        policy.Add(Request(3, 2, priority: 5, arrivalSeconds: 0));
        policy.Add(Request(4, 2, priority: 0, arrivalSeconds: 3));
        Assert.Equal(new long[] { 2, 4, 3, 1 }, policy.Step());
    }
}
