using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;

namespace Actors.Inference.Tests.Support;

/// <summary>
/// Feeds one prompt to a fresh sequence in pieces, every piece naming the whole prompt as its llama.cpp batch
/// (as the runtime does for a chunked prefill), and returns the last token's logits: one head row, as in generation.
/// </summary>
internal static class PromptPieces
{
    public static float[] LastLogits(CpuDevice device, LlamaModel model, int[] tokens, params (int Start, int Count)[] pieces)
    {
        using var runner = new SequenceRunner(device, model, contextLength: 64);
        float[] last = [];
        foreach (var (start, n) in pieces) last = runner.Feed(tokens.AsSpan(start, n), allLogits: false, (0, tokens.Length));
        return last;
    }

    /// <summary>One piece per token.</summary>
    public static (int Start, int Count)[] TokenByToken(int count) => Enumerable.Range(0, count).Select(i => (i, 1)).ToArray();
}
