using Actors.Runtime.Scheduling;
using Xunit;
using static Actors.Runtime.Tests.Scheduling.SchedulerTestKit;

namespace Actors.Runtime.Tests.Scheduling;

public class AdmissionTests
{
    [Fact]
    public void Admission_accepts_a_request_that_fits_and_queues_it()
    {
        var policy = new SchedulerPolicy(Settings());
        Assert.Equal(AdmissionStatus.Accepted, policy.TryAdd(Request(1, 10)).Status);
        Assert.Equal(1, policy.WaitingCount);
        Assert.True(policy.Contains(1));
    }

    [Fact]
    public void Admission_rejects_an_empty_prompt()
    {
        var policy = new SchedulerPolicy(Settings());
        var result = policy.TryAdd(new SequenceRequest(1, Array.Empty<int>(), 4));
        Assert.Equal(AdmissionStatus.EmptyPrompt, result.Status);
        Assert.Contains("empty", result.Message);
        Assert.Equal(0, policy.WaitingCount);
    }

    [Fact]
    public void Admission_rejects_a_prompt_longer_than_the_model_length()
    {
        var policy = new SchedulerPolicy(Settings(maxModelLength: 64));
        var result = policy.TryAdd(Request(1, 65));
        Assert.Equal(AdmissionStatus.PromptTooLong, result.Status);
        Assert.Contains("65 tokens", result.Message);
        Assert.Contains("64", result.Message);
    }

    [Fact]
    public void Admission_rejects_prompt_plus_max_tokens_over_the_model_length_and_says_how_many_tokens_fit()
    {
        var policy = new SchedulerPolicy(Settings(maxModelLength: 64));
        var result = policy.TryAdd(Request(1, 60, maxNewTokens: 10));
        Assert.Equal(AdmissionStatus.PromptPlusMaxTokensTooLong, result.Status);
        Assert.Contains("plus max new tokens", result.Message);
        Assert.Contains("at most 4 new tokens", result.Message);
    }

    [Fact]
    public void Admission_rejects_a_prompt_needing_more_blocks_than_the_whole_pool()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, blocks: 8, maxModelLength: 64));
        var result = policy.TryAdd(Request(1, 33, maxNewTokens: 1));
        Assert.Equal(AdmissionStatus.PromptExceedsKvPool, result.Status);
        Assert.Contains("9 KV blocks", result.Message);
        Assert.Contains("8", result.Message);
    }

    [Fact]
    public void Admission_rejects_a_sequence_that_could_not_finish_even_alone_in_the_pool()
    {
        var policy = new SchedulerPolicy(Settings(blockSize: 4, blocks: 8, maxModelLength: 64));
        var result = policy.TryAdd(Request(1, 30, maxNewTokens: 10));
        Assert.Equal(AdmissionStatus.SequenceExceedsKvPool, result.Status);
    }

    [Fact]
    public void Admission_rejects_when_the_waiting_queue_is_full()
    {
        var policy = new SchedulerPolicy(Settings(maxWaiting: 2));
        policy.Add(Request(1, 4));
        policy.Add(Request(2, 4));
        var result = policy.TryAdd(Request(3, 4));
        Assert.Equal(AdmissionStatus.QueueFull, result.Status);
        Assert.Contains("full", result.Message);
        policy.Step(); // both start running: room again
        Assert.True(policy.TryAdd(Request(3, 4)).IsAccepted);
    }

    [Fact]
    public void Admission_rejects_a_duplicate_id_and_a_max_new_tokens_below_one()
    {
        var policy = new SchedulerPolicy(Settings());
        policy.Add(Request(1, 4));
        Assert.Equal(AdmissionStatus.DuplicateId, policy.TryAdd(Request(1, 4)).Status);
        Assert.Equal(AdmissionStatus.InvalidMaxNewTokens, policy.TryAdd(Request(2, 4, maxNewTokens: 0)).Status);
    }

    [Fact]
    public void Settings_validation_names_the_offending_key()
    {
        var error = Assert.Throws<ArgumentException>(() => new SchedulerPolicy(Settings(inFlight: 0)));
        Assert.Contains("MaxInFlightSteps", error.Message);
        error = Assert.Throws<ArgumentException>(() => new SchedulerPolicy(Settings(chunked: false, budget: 32, maxModelLength: 64)));
        Assert.Contains("MaxBatchedTokens", error.Message);
        Assert.Contains("chunked prefill", error.Message);
        error = Assert.Throws<ArgumentException>(() => new SchedulerPolicy(Settings(budget: 4, maxRunning: 8)));
        Assert.Contains("MaxRunningSequences", error.Message);
    }
}
