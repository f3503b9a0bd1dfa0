using System.Numerics.Tensors;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// Causal attention of one query head over a sequence's cached K/V, read through its block table.
/// Each (token, head) is computed on its own in a fixed order, so the result does not depend on the
/// batch around it (batch invariance) nor on which thread runs it.
/// </summary>
public static class PagedAttention
{
    /// <param name="q">Query of one head [headDim], already rotated.</param>
    /// <param name="kCache">One layer's K pool [slots × kvDim].</param>
    /// <param name="vCache">One layer's V pool [slots × kvDim].</param>
    /// <param name="kvOffset">Offset of this head's KV head within a slot (kvHead × headDim).</param>
    /// <param name="firstPosition">First position attended to (a sliding window's start; 0 for full attention).</param>
    /// <param name="contextLength">Attend to positions firstPosition..contextLength−1.</param>
    /// <param name="softcap">Scores become tanh(s/softcap)·softcap before the softmax (gemma2); 0 = none.</param>
    /// <param name="scores">Scratch of at least contextLength floats.</param>
    /// <param name="output">[headDim] result.</param>
    public static void AttendHead(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scores, Span<float> output)
    {
        int headDim = q.Length;
        float max = float.NegativeInfinity;
        int n = contextLength - firstPosition;
        float invCap = softcap > 0 ? 1f / softcap : 0f; // ggml scales by 1/cap, tanh, scales by cap
        for (int j = 0; j < n; j++)
        {
            int p = firstPosition + j;
            int slot = blockTable[p / blockSize] * blockSize + p % blockSize;
            float s = TensorPrimitives.Dot(q, kCache.Slice(slot * kvDim + kvOffset, headDim)) * scale;
            if (softcap > 0) s = MathF.Tanh(s * invCap) * softcap;
            scores[j] = s;
            if (s > max) max = s;
        }
        var sc = scores[..n];
        TensorPrimitives.Subtract(sc, max, sc);
        TensorPrimitives.Exp(sc, sc);
        double sum = 0;
        for (int j = 0; j < n; j++) sum += sc[j];
        float inv = (float)(1.0 / sum);
        output.Clear();
        for (int j = 0; j < n; j++)
        {
            int p = firstPosition + j;
            int slot = blockTable[p / blockSize] * blockSize + p % blockSize;
            TensorPrimitives.MultiplyAdd(vCache.Slice(slot * kvDim + kvOffset, headDim), sc[j] * inv, output, output);
        }
    }
}
