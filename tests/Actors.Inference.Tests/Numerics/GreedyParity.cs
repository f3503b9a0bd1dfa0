using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.Numerics;

/// <summary>Greedy continuations of our CPU backend and llama.cpp from the same random prompt, token for token.</summary>
internal static class GreedyParity
{
    public static void AssertSameAsLlamaCpp(string path, int promptTokens = 8, int newTokens = 32)
    {
        using var model = LlamaModel.Open(path);
        var prompt = TestModels.RandomTokens(promptTokens, model.Config.VocabSize, 5);
        using var cpp = new LlamaCpp(path);
        var expected = cpp.Greedy(prompt, newTokens);
        using var device = new CpuDevice(threads: 2);
        using var runner = new SequenceRunner(device, model, contextLength: promptTokens + newTokens + 24);
        var logits = runner.Feed(prompt, allLogits: false);
        var ours = new int[newTokens];
        for (int n = 0; n < newTokens; n++)
        {
            ours[n] = ArgMax(logits);
            logits = runner.Feed([ours[n]], allLogits: false);
        }
        Assert.Equal(expected, ours);
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
