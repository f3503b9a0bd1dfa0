using Actors.Inference.Sampling;
using Xunit;

namespace Actors.Inference.Tests.Sampling;

public sealed class SamplingParametersTests
{
    [Fact]
    public void Defaults_are_valid_and_leave_the_distribution_alone()
    {
        var p = new SamplingParameters();
        p.Validate();
        Assert.Equal(1f, p.Temperature);
        Assert.Equal(0, p.TopK);
        Assert.Equal(1f, p.TopP);
        Assert.Equal(0f, p.MinP);
        Assert.Equal(1f, p.RepetitionPenalty);
        Assert.Equal(64, p.RepeatLastN);
        Assert.Empty(p.StopSequences);
        SamplingParameters.Greedy.Validate();
        Assert.True(SamplingParameters.Greedy.IsGreedy);
    }

    public static TheoryData<string, SamplingParameters, string> BadCases() => new()
    {
        { "Temperature", new SamplingParameters { Temperature = -0.5f }, "-0.5" },
        { "Temperature", new SamplingParameters { Temperature = float.NaN }, "NaN" },
        { "Temperature", new SamplingParameters { Temperature = float.PositiveInfinity }, "Infinity" },
        { "TopK", new SamplingParameters { TopK = -1 }, "-1" },
        { "TopP", new SamplingParameters { TopP = 0f }, "= 0" },
        { "TopP", new SamplingParameters { TopP = 1.01f }, "1.01" },
        { "TopP", new SamplingParameters { TopP = float.NaN }, "NaN" },
        { "MinP", new SamplingParameters { MinP = -0.1f }, "-0.1" },
        { "MinP", new SamplingParameters { MinP = 1.5f }, "1.5" },
        { "MinP", new SamplingParameters { MinP = float.NaN }, "NaN" },
        { "RepetitionPenalty", new SamplingParameters { RepetitionPenalty = 0f }, "= 0" },
        { "RepetitionPenalty", new SamplingParameters { RepetitionPenalty = float.NaN }, "NaN" },
        { "RepeatLastN", new SamplingParameters { RepeatLastN = -2 }, "-2" },
        { "PresencePenalty", new SamplingParameters { PresencePenalty = float.NaN }, "NaN" },
        { "PresencePenalty", new SamplingParameters { PresencePenalty = 2.5f }, "2.5" },
        { "FrequencyPenalty", new SamplingParameters { FrequencyPenalty = float.NaN }, "NaN" },
        { "FrequencyPenalty", new SamplingParameters { FrequencyPenalty = -3f }, "-3" },
        { "MaxTokens", new SamplingParameters { MaxTokens = 0 }, "= 0" },
        { "StopSequences[1]", new SamplingParameters { StopSequences = ["ok", ""] }, "\"\"" },
        { "StopTokenIds[0]", new SamplingParameters { StopTokenIds = [-4] }, "-4" },
        { "TopLogProbs", new SamplingParameters { LogProbs = true, TopLogProbs = 21 }, "21" },
        { "TopLogProbs", new SamplingParameters { TopLogProbs = 3 }, "LogProbs" },
        { "LogitBias[5]", new SamplingParameters { LogitBias = new Dictionary<int, float> { [5] = 100.5f } }, "100.5" },
        { "LogitBias[-2]", new SamplingParameters { LogitBias = new Dictionary<int, float> { [-2] = 1f } }, "-2" },
        { "LogitBias[7]", new SamplingParameters { LogitBias = new Dictionary<int, float> { [7] = float.NaN } }, "NaN" },
    };

    [Theory]
    [MemberData(nameof(BadCases))]
    public void Out_of_range_values_name_the_parameter_and_the_value(string name, SamplingParameters p, string valueText)
    {
        var ex = Assert.Throws<ArgumentException>(p.Validate);
        Assert.Equal(name, ex.ParamName);
        Assert.Contains(name, ex.Message);
        Assert.Contains(valueText, ex.Message);
    }

    [Fact]
    public void Stop_token_ids_are_checked_against_the_vocabulary_when_it_is_known()
    {
        var p = new SamplingParameters { StopTokenIds = [3, 100] };
        p.Validate();
        var ex = Assert.Throws<ArgumentException>(() => p.Validate(vocabSize: 100));
        Assert.Equal("StopTokenIds[1]", ex.ParamName);
        Assert.Contains("[0, 100)", ex.Message);
        Assert.Throws<ArgumentException>(() => new Sampler(p, 100));
        var bias = new SamplingParameters { LogitBias = new Dictionary<int, float> { [99] = -100f, [100] = 100f } };
        bias.Validate();
        Assert.Equal("LogitBias[100]", Assert.Throws<ArgumentException>(() => bias.Validate(vocabSize: 100)).ParamName);
    }
}
