using Actors.Inference.Sampling;
using Xunit;

namespace Actors.Inference.Tests.Sampling;

/// <summary>When a step's tokens can be decided from the rows' top-k, and when they need the whole logit rows.</summary>
public sealed class LogitNeedsTests
{
    public static TheoryData<string, SamplingParameters, int> Cases() => new()
    {
        { "greedy", SamplingParameters.Greedy, 1 },
        { "greedy with top-k, top-p and min-p (ignored when greedy)", SamplingParameters.Greedy with { TopK = 5, TopP = 0.5f, MinP = 0.2f }, 1 },
        { "greedy with stops and max tokens", SamplingParameters.Greedy with { StopTokenIds = [3], StopSequences = ["x"], MaxTokens = 4, IgnoreEos = true }, 1 },
        { "greedy with a repetition penalty over no tokens", SamplingParameters.Greedy with { RepetitionPenalty = 1.3f, RepeatLastN = 0 }, 1 },
        { "greedy with a logit bias of zeros", SamplingParameters.Greedy with { LogitBias = new Dictionary<int, float> { [4] = 0f } }, 1 },
        { "greedy with a seed", SamplingParameters.Greedy with { Seed = 7 }, 1 },
        { "temperature above 0", new SamplingParameters { Temperature = 0.7f }, 0 },
        { "temperature above 0 with top-p and min-p", new SamplingParameters { Temperature = 0.7f, TopP = 0.9f, MinP = 0.05f }, 0 },
        { "temperature above 0 with top-k 1", new SamplingParameters { Temperature = 0.7f, TopK = 1 }, 1 },
        { "temperature above 0 with top-k 40, top-p and min-p", new SamplingParameters { Temperature = 0.7f, TopK = 40, TopP = 0.9f, MinP = 0.05f, Seed = 3 }, 40 },
        { "top-k of the whole vocabulary (the sampler does not select then)", new SamplingParameters { Temperature = 0.7f, TopK = 320 }, 0 },
        { "top-k sampling with log-probabilities", new SamplingParameters { Temperature = 0.7f, TopK = 40, LogProbs = true }, 0 },
        { "top-k sampling with a presence penalty", new SamplingParameters { Temperature = 0.7f, TopK = 40, PresencePenalty = 0.1f }, 0 },
        { "log-probabilities", SamplingParameters.Greedy with { LogProbs = true }, 0 },
        { "top log-probabilities", SamplingParameters.Greedy with { LogProbs = true, TopLogProbs = 3 }, 0 },
        { "repetition penalty", SamplingParameters.Greedy with { RepetitionPenalty = 1.1f }, 0 },
        { "repetition penalty over every token", SamplingParameters.Greedy with { RepetitionPenalty = 0.9f, RepeatLastN = -1 }, 0 },
        { "presence penalty", SamplingParameters.Greedy with { PresencePenalty = 0.5f }, 0 },
        { "frequency penalty", SamplingParameters.Greedy with { FrequencyPenalty = -0.5f }, 0 },
        { "logit bias", SamplingParameters.Greedy with { LogitBias = new Dictionary<int, float> { [4] = 0f, [9] = -100f } }, 0 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_sequence_is_decided_by_its_best_tokens_only_when_nothing_reads_the_rest_of_its_row(string name, SamplingParameters p, int expected)
    {
        Assert.True(expected == LogitNeeds.TopKThatDecides(p, vocabSize: 320), name);
    }

    [Theory]
    [InlineData(new int[] { 1, 1, 1 }, 64, 1)]
    [InlineData(new int[] { 1 }, 1, 1)]
    [InlineData(new int[] { 1, 3, 2 }, 64, 3)]
    [InlineData(new int[] { 1, 0, 1 }, 64, 0)]  // one row needs its logits: the whole step takes whole rows
    [InlineData(new int[] { 0 }, 64, 0)]
    [InlineData(new int[] { 1, 1 }, 0, 0)]      // the stage offers no top-k
    [InlineData(new int[] { 1, 8 }, 4, 0)]      // more than the stage offers
    [InlineData(new int[] { }, 64, 0)]          // no logit rows
    public void A_step_asks_for_the_largest_k_its_rows_need_when_every_row_is_decided_by_it(int[] rows, int stageMax, int expected)
    {
        Assert.Equal(expected, LogitNeeds.ForStep(rows, stageMax));
    }
}
