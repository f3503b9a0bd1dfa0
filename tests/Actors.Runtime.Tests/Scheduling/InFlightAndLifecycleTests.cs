using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class InFlightAndLifecycleTests
{
    [Fact]
    public void Three_steps_in_flight_never_share_a_sequence_and_a_fourth_waits_for_an_update()
    {
        var policy = new SchedulerPolicy(Settings(budget: 8, inFlight: 3));
        for (long id = 1; id <= 6; id++) policy.Add(Request(id, 4));
        var steps = new[] { policy.Schedule(), policy.Schedule(), policy.Schedule() };
        policy.CheckInvariants();
        Assert.Equal(new long[] { 1, 2 }, steps[0].Ids());
        Assert.Equal(new long[] { 3, 4 }, steps[1].Ids());
        Assert.Equal(new long[] { 5, 6 }, steps[2].Ids());
        Assert.Equal(3, steps.Select(s => s.StepId).Distinct().Count());
        Assert.False(policy.CanSchedule);
        Assert.False(policy.HasSchedulableWork);
        Assert.Throws<InvalidOperationException>(() => policy.Schedule());

        policy.Complete(steps[0]);
        var fourth = policy.Schedule();
        Assert.Equal(new long[] { 1, 2 }, fourth.Ids()); // 3-6 are still in flight
        Assert.All(fourth.Sequences.ToArray(), s => Assert.Equal((4, 1), (s.StartPosition, s.TokenCount)));
        policy.Complete(steps[1]);
        policy.Complete(steps[2]);
        policy.Complete(fourth);
    }

    [Fact]
    public void With_several_steps_in_flight_each_takes_its_share_of_the_running_sequences()
    {
        // 8 decoding sequences, 2 steps in flight (a two-stage pipeline): 4 and 4, not 8 and 0.
        var policy = new SchedulerPolicy(Settings(budget: 64, maxRunning: 8, inFlight: 2));
        for (long id = 1; id <= 8; id++) policy.Add(Request(id, 4, maxNewTokens: 40));
        while (policy.WaitingCount > 0) policy.Complete(policy.Schedule()); // prefill everyone
        Assert.Equal(8, policy.RunningCount);
        var first = policy.Schedule();
        var second = policy.Schedule();
        Assert.Equal(4, first.Sequences.Length);
        Assert.Equal(4, second.Sequences.Length);
        Assert.Empty(first.Ids().Intersect(second.Ids()));
        policy.Complete(first);
        policy.Complete(second);
    }

    [Fact]
    public void Aborting_a_sequence_inside_a_step_in_flight_frees_its_blocks_at_once_and_drops_its_result()
    {
        var policy = new SchedulerPolicy(Settings(inFlight: 2));
        policy.Add(Request(1, 6));
        var step = policy.Schedule();
        Assert.True(policy.Abort(1, AbortReason.Cancelled));
        Assert.False(policy.Contains(1));
        Assert.Equal(0, policy.BlockPool.UsedCount);
        policy.CheckInvariants();

        policy.Add(Request(2, 3)); // likely reuses the aborted sequence's pooled record
        var next = policy.Schedule();
        var result = policy.Complete(step, token: 42);
        Assert.Empty(result.Appended.ToArray());
        Assert.Empty(result.Finished.ToArray());
        result = policy.Complete(next, token: 43);
        Assert.Equal(new AppendedToken(2, 43), Assert.Single(result.Appended.ToArray()));
        Assert.False(policy.Abort(1, AbortReason.Cancelled));
    }

    [Fact]
    public void Abort_removes_waiting_and_swapped_sequences_too()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4));
        Assert.True(policy.Abort(1, AbortReason.Error));
        Assert.Equal(0, policy.WaitingCount);
        policy.CheckInvariants();
    }

    [Fact]
    public void Update_finishes_a_sequence_at_its_eos_token_and_frees_its_blocks()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4) with { EosTokenId = 2 });
        policy.Step(token: 5);
        var step = policy.Schedule();
        var result = policy.Complete(step, token: 2);
        Assert.Equal(new AppendedToken(1, 2), Assert.Single(result.Appended.ToArray()));
        Assert.Equal(new FinishedSequence(1, FinishReason.Stop, 2), Assert.Single(result.Finished.ToArray()));
        Assert.Equal(0, policy.BlockPool.UsedCount);
    }

    [Fact]
    public void Update_ignores_eos_when_asked_and_finishes_at_max_new_tokens()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4, maxNewTokens: 3) with { EosTokenId = 2, IgnoreEos = true });
        policy.Step(token: 2);
        policy.Step(token: 2);
        var result = policy.Complete(policy.Schedule(), token: 2);
        Assert.Equal(new FinishedSequence(1, FinishReason.Length, 3), Assert.Single(result.Finished.ToArray()));
    }

    [Fact]
    public void Update_finishes_at_any_end_of_generation_token_of_the_vocabulary_unless_eos_is_ignored()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4) with { EosTokenId = 2, EndOfGenerationIds = [7, 9] });
        policy.Add(Request(2, 4) with { EosTokenId = 2, EndOfGenerationIds = [7, 9], IgnoreEos = true });
        policy.Step(token: 5);
        var result = policy.Complete(policy.Schedule(), token: 9);
        Assert.Equal(new FinishedSequence(1, FinishReason.Stop, 2), Assert.Single(result.Finished.ToArray()));
        Assert.Equal(2, result.Appended.Length);
    }

    [Fact]
    public void Update_finishes_at_a_stop_token_id_even_when_eos_is_ignored()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4) with { EosTokenId = 2, IgnoreEos = true, StopTokenIds = [11] });
        policy.Step(token: 2);
        var result = policy.Complete(policy.Schedule(), token: 11);
        Assert.Equal(new FinishedSequence(1, FinishReason.Stop, 2), Assert.Single(result.Finished.ToArray()));
    }

    private sealed class StopAfter(int token) : ISequenceOutput
    {
        public readonly List<int> Seen = new();
        public bool AppendToken(int t)
        {
            Seen.Add(t);
            return t == token;
        }
    }

    [Fact]
    public void Update_finishes_when_the_output_reports_a_stop_string_and_feeds_it_no_stop_token()
    {
        var output = new StopAfter(6);
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4, maxNewTokens: 10) with { EosTokenId = 2, Output = output });
        policy.Step(token: 5);
        var result = policy.Complete(policy.Schedule(), token: 6);
        Assert.Equal(new FinishedSequence(1, FinishReason.Stop, 2), Assert.Single(result.Finished.ToArray()));
        Assert.Equal([5, 6], output.Seen);
    }

    [Fact]
    public void Update_demands_one_sampled_token_per_logit_row_and_each_step_exactly_once()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4));
        policy.Add(Request(2, 4));
        var step = policy.Schedule();
        Assert.Throws<ArgumentException>(() => policy.Update(step, new[] { 1 }));
        policy.Update(step, new[] { 1, 2 });
        Assert.Throws<InvalidOperationException>(() => policy.Update(step, new[] { 1, 2 }));
        var other = new SchedulerPolicy(Settings());
        other.Add(Request(1, 4));
        Assert.Throws<InvalidOperationException>(() => policy.Update(other.Schedule(), new[] { 1 }));
    }

    [Fact]
    public void Empty_step_is_returned_when_nothing_can_run_and_must_still_be_applied()
    {
        var policy = new SchedulerPolicy(Settings());
        var step = policy.Schedule();
        Assert.True(step.IsEmpty);
        Assert.Equal(0, step.TotalTokens);
        Assert.False(policy.CanSchedule);
        policy.Complete(step);
        Assert.True(policy.CanSchedule);
    }
}
