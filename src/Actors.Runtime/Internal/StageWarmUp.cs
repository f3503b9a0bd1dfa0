using Actors.Inference.Compute;
using Actors.Inference.Sampling;

namespace Actors.Runtime.Internal;

/// <summary>
/// One dummy step through a freshly loaded stage, on its device's thread: a prefill of a few tokens
/// and a one-token decode, then greedy and random sampling on the last stage (and the decode once more
/// returning its top-1 token, the path greedy steps take). It compiles the kernels
/// and the sampler (JIT) before the first request instead of inside its time to first token. The
/// dummy KV lands in block 0, whose slots any later owner writes before it reads them.
/// </summary>
internal static class StageWarmUp
{
    public static void Run(IStageExecutor stage)
    {
        int vocab = stage.VocabSize;
        var batch = new StepBatch();
        var input = new float[8 * stage.HiddenSize];
        for (int i = 0; i < input.Length; i++) input[i] = (i % 13 - 6) * 0.01f; // small finite activations for a middle stage
        float[] output = [];
        foreach (int tokens in new[] { Math.Min(8, stage.Kv.BlockSize), 1 })
        {
            int start = tokens == 1 ? Math.Min(8, stage.Kv.BlockSize) : 0;
            if (start + tokens > stage.Kv.BlockSize) start = stage.Kv.BlockSize - tokens;
            batch.EnsureCapacity(tokens, 1, 1, stage.Kv.HasSlidingPool);
            for (int t = 0; t < tokens; t++)
            {
                batch.Tokens[t] = (t + 1) % vocab;
                batch.Positions[t] = start + t;
                batch.Slots[t] = start + t; // block 0
                if (stage.Kv.HasSlidingPool) batch.SlidingSlots[t] = start + t; // block 0 of the sliding pool
            }
            batch.QueryStart[0] = 0;
            batch.QueryStart[1] = tokens;
            batch.ContextLength[0] = start + tokens;
            batch.BatchStart[0] = start; // both multiplication orders get compiled
            batch.BatchEnd[0] = start + tokens;
            batch.BlockTables[0] = 0;
            if (stage.Kv.HasSlidingPool) batch.SlidingBlockTables[0] = 0;
            batch.BlockTableWidth = 1;
            batch.LogitTokens[0] = tokens - 1;
            batch.TokenCount = tokens;
            batch.SequenceCount = 1;
            batch.LogitCount = stage.IsLast ? 1 : 0;
            int n = stage.OutputLength(batch);
            if (output.Length < n) output = new float[n];
            stage.Forward(batch, stage.IsFirst ? ReadOnlySpan<float>.Empty : input.AsSpan(0, tokens * stage.HiddenSize), output.AsSpan(0, n));
        }
        if (!stage.IsLast) return;
        var logits = output.AsSpan(0, vocab);
        // Greedy steps return each row's best token instead (actors-runtime.top-k-sampling): the decode again, that way.
        if (stage.MaxLogitTopK > 0)
        {
            var greedy = new SequenceSampling(Protocol.SamplingOptions.Greedy, [1], vocab);
            int k = LogitNeeds.ForStep([greedy.TopKThatDecides], stage.MaxLogitTopK);
            int[] top = new int[k];
            float[] topLogits = new float[k];
            stage.ForwardTopK(batch, stage.IsFirst ? ReadOnlySpan<float>.Empty : input.AsSpan(0, stage.HiddenSize), k, top, topLogits);
            greedy.SampleFromTopK(top, topLogits); // the stage actor's side of that path, compiled too
        }
        new Sampler(SamplingParameters.Greedy, vocab).Sample(logits, []);
        new Sampler(new SamplingParameters { Temperature = 0.8f, TopP = 0.9f, TopK = 40, Seed = 1, LogProbs = true }, vocab).Sample(logits, [1, 2], out _);
    }
}
