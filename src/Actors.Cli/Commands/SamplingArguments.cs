using Actors.Runtime.Protocol;

namespace Actors.Cli.Commands;

/// <summary>The sampling options shared by generate and bench.</summary>
public static class SamplingArguments
{
    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("max-tokens", "most tokens to generate", "64"),
        new("temperature", "sampling temperature (0 = greedy)", "0.8"),
        new("top-k", "keep the k most likely tokens (0 = off)", "40"),
        new("top-p", "nucleus sampling mass (1 = off)", "0.95"),
        new("min-p", "drop tokens below min-p x the top probability (0 = off)", "0.05"),
        new("repeat-penalty", "repetition penalty over the last 64 tokens (1 = off)", "1.0"),
        new("seed", "sampling seed (reproducible output)"),
        new("stop", "stop sequence (may contain \\n)"),
        new("ignore-eos", "keep generating past the end-of-sequence token", IsFlag: true),
    ];

    public static SamplingOptions Parse(Arguments a) => new()
    {
        Temperature = (float)a.Double("temperature", 0, 100),
        TopK = a.Int("top-k", 0),
        TopP = (float)a.Double("top-p", 1e-6, 1),
        MinP = (float)a.Double("min-p", 0, 1),
        RepetitionPenalty = (float)a.Double("repeat-penalty", 0.01, 100),
        Seed = a.ULong("seed"),
        StopSequences = a.String("stop") is { } s ? [s.Replace("\\n", "\n")] : [],
        IgnoreEos = a.Flag("ignore-eos"),
    };
}
