namespace Actors.Inference.Sampling;

/// <summary>
/// How one sequence picks its next tokens. Every "off" value leaves the distribution unchanged;
/// <see cref="Validate"/> rejects anything out of range, naming the parameter and the value.
/// </summary>
public sealed record SamplingParameters
{
    /// <summary>Divides the logits before sampling; 0 means greedy (argmax, ties to the lowest id).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the k most likely tokens; 0 = off.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability adds up to at least p; 1 = off.</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Keep tokens whose probability is at least min_p times the most likely one's; 0 = off.</summary>
    public float MinP { get; init; }

    /// <summary>
    /// llama.cpp's repeat penalty: for each token among the last <see cref="RepeatLastN"/> previous tokens,
    /// a positive logit is divided by it and a negative (or zero) one multiplied; 1 = off.
    /// </summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>How many of the latest previous tokens the repetition penalty looks at; 0 = none, -1 = all.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>OpenAI presence penalty: subtracted once from the logit of every token that occurred before.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>OpenAI frequency penalty: subtracted from a token's logit once per earlier occurrence.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Seed of the sampler's generator; the same seed gives the same tokens. Null: a random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Draws of the generator to skip before the first sample (one is used per non-greedy token): resumes a seeded sequence.</summary>
    public long RandomDraws { get; init; }

    /// <summary>The most tokens to generate.</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Generation stops before the first occurrence of any of these strings (which is not returned).</summary>
    public string[] StopSequences { get; init; } = [];

    /// <summary>Generation stops after any of these tokens (in addition to end-of-generation tokens).</summary>
    public int[] StopTokenIds { get; init; } = [];

    /// <summary>Keep generating through end-of-generation tokens (until <see cref="MaxTokens"/> or a stop).</summary>
    public bool IgnoreEos { get; init; }

    /// <summary>Return the log-probability of each chosen token.</summary>
    public bool LogProbs { get; init; }

    /// <summary>Also return this many most likely alternatives per position (0-20); needs <see cref="LogProbs"/>.</summary>
    public int TopLogProbs { get; init; }

    public const int MaxTopLogProbs = 20;

    /// <summary>
    /// OpenAI's logit_bias: token id → a value in [-100, 100] added to that token's logit before every
    /// other step (llama.cpp's order); -100 in practice bans a token, +100 forces it. Null or empty: off.
    /// </summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    public const float MaxLogitBias = 100f;

    /// <summary>Greedy decoding: always the most likely token.</summary>
    public static SamplingParameters Greedy { get; } = new() { Temperature = 0 };

    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first parameter that is out of range and its value.</summary>
    public void Validate() => Validate(vocabSize: null);

    /// <summary>As <see cref="Validate()"/>, also checking <see cref="StopTokenIds"/> against the vocabulary.</summary>
    public void Validate(int? vocabSize)
    {
        static ArgumentException Bad(string name, object? value, string rule) =>
            new($"{name} = {Format(value)} is out of range: {rule}", name);

        if (!float.IsFinite(Temperature) || Temperature < 0)
            throw Bad(nameof(Temperature), Temperature, "it must be a finite number >= 0 (0 = greedy)");
        if (TopK < 0)
            throw Bad(nameof(TopK), TopK, "it must be >= 0 (0 = off)");
        if (!(TopP > 0 && TopP <= 1))
            throw Bad(nameof(TopP), TopP, "it must be in (0, 1] (1 = off)");
        if (!(MinP >= 0 && MinP <= 1))
            throw Bad(nameof(MinP), MinP, "it must be in [0, 1] (0 = off)");
        if (!float.IsFinite(RepetitionPenalty) || RepetitionPenalty <= 0)
            throw Bad(nameof(RepetitionPenalty), RepetitionPenalty, "it must be a finite number > 0 (1 = off)");
        if (RepeatLastN < -1)
            throw Bad(nameof(RepeatLastN), RepeatLastN, "it must be >= -1 (0 = none, -1 = all previous tokens)");
        if (!(PresencePenalty >= -2 && PresencePenalty <= 2))
            throw Bad(nameof(PresencePenalty), PresencePenalty, "it must be in [-2, 2] (0 = off)");
        if (!(FrequencyPenalty >= -2 && FrequencyPenalty <= 2))
            throw Bad(nameof(FrequencyPenalty), FrequencyPenalty, "it must be in [-2, 2] (0 = off)");
        if (RandomDraws < 0)
            throw Bad(nameof(RandomDraws), RandomDraws, "it must be >= 0 (0 = a fresh generator)");
        if (MaxTokens < 1)
            throw Bad(nameof(MaxTokens), MaxTokens, "it must be >= 1");
        if (StopSequences is null)
            throw new ArgumentException($"{nameof(StopSequences)} must not be null (use an empty list)", nameof(StopSequences));
        for (int i = 0; i < StopSequences.Length; i++)
            if (string.IsNullOrEmpty(StopSequences[i]))
                throw Bad($"{nameof(StopSequences)}[{i}]", StopSequences[i], "a stop sequence must not be empty");
        if (StopTokenIds is null)
            throw new ArgumentException($"{nameof(StopTokenIds)} must not be null (use an empty list)", nameof(StopTokenIds));
        for (int i = 0; i < StopTokenIds.Length; i++)
            if (StopTokenIds[i] < 0 || (vocabSize is int v && StopTokenIds[i] >= v))
                throw Bad($"{nameof(StopTokenIds)}[{i}]", StopTokenIds[i],
                    vocabSize is int size ? $"a token id must be in [0, {size})" : "a token id must be >= 0");
        if (TopLogProbs < 0 || TopLogProbs > MaxTopLogProbs)
            throw Bad(nameof(TopLogProbs), TopLogProbs, $"it must be in [0, {MaxTopLogProbs}]");
        if (TopLogProbs > 0 && !LogProbs)
            throw Bad(nameof(TopLogProbs), TopLogProbs, $"it needs {nameof(LogProbs)} = true");
        if (LogitBias is not null)
            foreach (var (token, bias) in LogitBias)
            {
                if (token < 0 || (vocabSize is int v && token >= v))
                    throw Bad($"{nameof(LogitBias)}[{token}]", token,
                        vocabSize is int size ? $"a token id must be in [0, {size})" : "a token id must be >= 0");
                if (!(bias >= -MaxLogitBias && bias <= MaxLogitBias))
                    throw Bad($"{nameof(LogitBias)}[{token}]", bias, $"a bias must be in [-{MaxLogitBias}, {MaxLogitBias}]");
            }
    }

    private static string Format(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        float f => f.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
