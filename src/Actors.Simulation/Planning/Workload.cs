namespace Actors.Simulation.Planning;

/// <summary>
/// What the rig is asked to serve: <see cref="Concurrency"/> sequences in flight at all times (a closed
/// loop: a finished request is replaced at once), each with a prompt and an output length drawn from
/// the distributions. <see cref="PrefillChunkTokens"/> is the per-step token budget for prompt chunks
/// (vLLM's max_num_batched_tokens; ~2048 favours inter-token latency).
/// </summary>
public sealed record Workload(int Concurrency, LengthDistribution Prompt, LengthDistribution Output, int PrefillChunkTokens = 2048)
{
    public static Workload Fixed(int concurrency, int promptTokens, int outputTokens)
        => new(concurrency, LengthDistribution.Fixed(promptTokens), LengthDistribution.Fixed(outputTokens));

    public void Validate()
    {
        if (Concurrency < 1) throw new ArgumentOutOfRangeException(nameof(Concurrency), Concurrency, "at least one sequence must be in flight");
        if (PrefillChunkTokens < 1) throw new ArgumentOutOfRangeException(nameof(PrefillChunkTokens), PrefillChunkTokens, "must be at least 1");
    }

    public override string ToString() => $"{Concurrency} in flight, prompt {Prompt}, output {Output}";
}
