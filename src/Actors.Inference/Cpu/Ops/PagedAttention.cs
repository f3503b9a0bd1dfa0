using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// Causal attention of one query head over a sequence's cached K/V, read through its block table,
/// computed with the float operations of llama.cpp's CPU graph for a prompt batch (flash attention off,
/// F32 KV cache, a fresh sequence whose cache cell i holds position i):
/// <list type="number">
/// <item>s[p] = ggml_vec_dot_f32(K[p], q) (<see cref="GgmlSums.DotF32"/>; the KQ matmul's q is a permuted,
/// non-contiguous view, so ggml runs vec_dot, not tinyBLAS);</item>
/// <item>soft-cap (gemma2): s·(1/cap), tanhf, ·cap, as three ggml ops;</item>
/// <item>soft_max_ext: w = s·scale, masked positions −∞, the row's max, e = ggml's exp(w − max) and
/// Σ over each 16 cells of the row (cells 16c..16c+15) with _mm512_reduce_add_ps, added up in
/// double; p = e · (float)(1/Σ);</item>
/// <item>softmax·V by tinyBLAS (llamafile_sgemm, F32, 16 lanes): out[d] = reduce16 of 16 FMA chains,
/// chain L over the positions ≡ L (mod 16) in ascending order.</item>
/// </list>
/// Masked cells contribute exact zeros there, so only the window's positions are visited here. llama.cpp
/// itself sums softmax·V differently for a batch of one token (ggml_vec_dot_f32 over the cells); this
/// uses the batch order for every token, so a token's result does not depend on the batch around it
/// (batch invariance) nor on which thread runs it. With AVX-512 and a head dimension a multiple of 16 (≥ 64),
/// <see cref="AttendHead"/> runs the register-tiled <see cref="PagedAttentionFast"/>, which does the same
/// float operations in another order of independent work; <see cref="AttendHeadReference"/> is the plain form.
/// </summary>
public static class PagedAttention
{
    /// <summary>Scratch floats <see cref="AttendHead"/> needs for a context of <paramref name="contextLength"/> and heads of <paramref name="headDim"/>.</summary>
    public static int ScratchLength(int contextLength, int headDim) => 2 * ((contextLength + 15) & ~15) + 16 * headDim;

    /// <param name="q">Query of one head [headDim], already rotated (and scaled, where the architecture scales Q).</param>
    /// <param name="kCache">One layer's K pool [slots × kvDim].</param>
    /// <param name="vCache">One layer's V pool [slots × kvDim].</param>
    /// <param name="kvOffset">Offset of this head's KV head within a slot (kvHead × headDim).</param>
    /// <param name="firstPosition">First position attended to (a sliding window's start; 0 for full attention).</param>
    /// <param name="contextLength">Attend to positions firstPosition..contextLength−1.</param>
    /// <param name="scale">soft_max_ext's scale of the scores (1 where Q was scaled instead).</param>
    /// <param name="softcap">Scores become tanh(s/softcap)·softcap before the softmax (gemma2); 0 = none.</param>
    /// <param name="scratch">At least <see cref="ScratchLength"/> floats.</param>
    /// <param name="output">[headDim] result.</param>
    public static void AttendHead(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scratch, Span<float> output)
    {
        if (TiledFits(q.Length))
            PagedAttentionFast.AttendHead(q, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scratch, output);
        else
            AttendHeadReference(q, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scratch, output);
    }

    /// <summary>
    /// Whether the tiled kernel runs: AVX-512, a head dimension a multiple of 16, and at least 64 (below, ggml's dot is
    /// all scalar tail and V has one chain per lane, and the plain form measured as fast).
    /// </summary>
    private static bool TiledFits(int headDim) => GgmlSums.UseVector512 && Avx512F.IsSupported && headDim % 16 == 0 && headDim >= 64;

    /// <summary>
    /// <see cref="AttendHead"/> for <paramref name="heads"/> query heads that share one KV head (q and output
    /// hold them head after head), each head's result bit for bit what it gets alone; scratch of
    /// heads × <see cref="ScratchLength"/> floats. The tiled form reads each V row once for two heads.
    /// </summary>
    public static void AttendHeads(int heads, ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scratch, Span<float> output)
    {
        if (heads < 1 || q.Length % heads != 0) throw new ArgumentException($"q of {q.Length} values is not {heads} equal heads", nameof(q));
        int headDim = q.Length / heads;
        if (TiledFits(headDim))
        {
            PagedAttentionFast.AttendHeads(heads, q, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scratch, output);
            return;
        }
        for (int h = 0; h < heads; h++)
            AttendHeadReference(q.Slice(h * headDim, headDim), kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength,
                scale, softcap, scratch, output.Slice(h * headDim, headDim));
    }

    /// <summary>
    /// The plain form of the float order above, one position at a time (the register-tiled
    /// <see cref="PagedAttentionFast"/> must give its bits; tests compare the two).
    /// </summary>
    internal static void AttendHeadReference(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scratch, Span<float> output)
    {
        int headDim = q.Length;
        Validate(headDim, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scratch, output);
        int start = firstPosition & ~15;              // first cell of the first 16-cell group
        int end = (contextLength + 15) & ~15;
        var e = scratch[..(end - start)];             // scores, then exps, then probabilities, by cell − start
        var lanes = scratch.Slice(end - start, 16 * headDim); // [16 × headDim] tinyBLAS lane accumulators

        float max = float.NegativeInfinity;
        float invCap = softcap > 0 ? 1f / softcap : 0f;
        for (int p = firstPosition; p < contextLength; p++)
        {
            float s = GgmlSums.DotF32(KRow(kCache, kvDim, kvOffset, headDim, blockTable, blockSize, p), q);
            if (softcap > 0) s = MathF.Tanh(s * invCap) * softcap;
            s *= scale;
            e[p - start] = s;
            if (s > max) max = s;
        }

        bool vector = GgmlSums.UseVector512 && Avx512F.IsSupported;
        float inv = ExpAndInverseSum(e, start, end, firstPosition, contextLength, max, vector);

        lanes.Clear();
        for (int p = firstPosition; p < contextLength; p++)
        {
            float prob = e[p - start] * inv;
            var v = KRow(vCache, kvDim, kvOffset, headDim, blockTable, blockSize, p);
            var acc = lanes.Slice((p & 15) * headDim, headDim);
            Fma(v, prob, acc, vector);
        }
        ReduceLanes(lanes, headDim, output, vector);
    }

    /// <summary>out[d] = tinyBLAS's final tree over the 16 lane accumulators lanes[L·headDim + d].</summary>
    internal static void ReduceLanes(Span<float> lanes, int headDim, Span<float> output, bool vector)
    {
        int d = 0;
        if (vector)
        {
            // The same tree as below, 16 outputs at a time.
            for (; d + 16 <= headDim; d += 16)
            {
                var b0 = (Lane(lanes, 0, headDim, d) + Lane(lanes, 8, headDim, d)) + (Lane(lanes, 4, headDim, d) + Lane(lanes, 12, headDim, d));
                var b1 = (Lane(lanes, 1, headDim, d) + Lane(lanes, 9, headDim, d)) + (Lane(lanes, 5, headDim, d) + Lane(lanes, 13, headDim, d));
                var b2 = (Lane(lanes, 2, headDim, d) + Lane(lanes, 10, headDim, d)) + (Lane(lanes, 6, headDim, d) + Lane(lanes, 14, headDim, d));
                var b3 = (Lane(lanes, 3, headDim, d) + Lane(lanes, 11, headDim, d)) + (Lane(lanes, 7, headDim, d) + Lane(lanes, 15, headDim, d));
                ((b0 + b2) + (b1 + b3)).CopyTo(output.Slice(d, 16));
            }
        }
        for (; d < headDim; d++)
        {
            float b0 = (lanes[d] + lanes[8 * headDim + d]) + (lanes[4 * headDim + d] + lanes[12 * headDim + d]);
            float b1 = (lanes[headDim + d] + lanes[9 * headDim + d]) + (lanes[5 * headDim + d] + lanes[13 * headDim + d]);
            float b2 = (lanes[2 * headDim + d] + lanes[10 * headDim + d]) + (lanes[6 * headDim + d] + lanes[14 * headDim + d]);
            float b3 = (lanes[3 * headDim + d] + lanes[11 * headDim + d]) + (lanes[7 * headDim + d] + lanes[15 * headDim + d]);
            output[d] = (b0 + b2) + (b1 + b3);
        }
    }


    /// <summary>
    /// soft_max_ext's exps in place over the cells start..end−1 of <paramref name="e"/> (indexed by cell − start;
    /// cells outside [first, contextLength) become exp(−∞) = 0), each 16 cells summed with the 16-lane tree,
    /// the groups in double; returns (float)(1/Σ).
    /// </summary>
    internal static float ExpAndInverseSum(Span<float> e, int start, int end, int firstPosition, int contextLength, float max, bool vector)
    {
        double sum = 0;
        for (int c = start; c < end; c += 16)
        {
            var group = e.Slice(c - start, 16);
            if (vector && c >= firstPosition && c + 16 <= contextLength)
            {
                // A group inside the window: no masked cell.
                var x = GgmlExp.Exp(Vector512.Create<float>(group) - Vector512.Create(max));
                x.CopyTo(group);
                sum += GgmlSums.Reduce16(x);
                continue;
            }
            for (int k = 0; k < 16; k++)
            {
                int p = c + k;
                if (p < firstPosition || p >= contextLength) group[k] = float.NegativeInfinity;
                else group[k] -= max;
            }
            if (vector)
            {
                var x = GgmlExp.Exp(Vector512.Create<float>(group));
                x.CopyTo(group);
                sum += GgmlSums.Reduce16(x);
            }
            else
            {
                for (int k = 0; k < 16; k++) group[k] = GgmlExp.Exp(group[k]);
                sum += GgmlSums.Reduce16(group);
            }
        }
        return (float)(1.0 / sum);
    }

    internal static void Validate(int headDim, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, Span<float> scratch, Span<float> output)
    {
        if (contextLength - firstPosition <= 0) throw new ArgumentOutOfRangeException(nameof(contextLength), $"no position to attend to in [{firstPosition}, {contextLength})");
        int need = ScratchLength(contextLength, headDim);
        if (scratch.Length < need) throw new ArgumentException($"scratch holds {scratch.Length} floats, need {need}", nameof(scratch));
        if (output.Length < headDim) throw new ArgumentException($"output holds {output.Length} values, need {headDim}", nameof(output));
        if (kvOffset < 0 || kvOffset + headDim > kvDim) throw new ArgumentOutOfRangeException(nameof(kvOffset), $"head at {kvOffset}..{kvOffset + headDim} outside a slot of {kvDim}");
        long lastBlock = (contextLength - 1) / blockSize;
        if (lastBlock >= blockTable.Length) throw new ArgumentException($"block table of {blockTable.Length} blocks does not reach position {contextLength - 1}", nameof(blockTable));
        foreach (int b in blockTable[(firstPosition / blockSize)..(int)(lastBlock + 1)])
            if (b < 0 || ((long)b + 1) * blockSize * kvDim > Math.Min(kCache.Length, vCache.Length))
                throw new ArgumentException($"block {b} lies outside the K/V pools", nameof(blockTable));
    }

    internal static Vector512<float> Lane(Span<float> lanes, int lane, int headDim, int d) => Vector512.Create<float>(lanes.Slice(lane * headDim + d, 16));

    private static ReadOnlySpan<float> KRow(ReadOnlySpan<float> cache, int kvDim, int kvOffset, int headDim, ReadOnlySpan<int> blockTable, int blockSize, int p)
    {
        int slot = blockTable[p / blockSize] * blockSize + p % blockSize;
        return cache.Slice(slot * kvDim + kvOffset, headDim);
    }

    /// <summary>acc ← fma(v, prob, acc) element-wise.</summary>
    private static void Fma(ReadOnlySpan<float> v, float prob, Span<float> acc, bool vector)
    {
        int i = 0;
        if (vector)
        {
            var pv = Vector512.Create(prob);
            for (; i + 16 <= v.Length; i += 16)
                Vector512.FusedMultiplyAdd(Vector512.Create(v.Slice(i, 16)), pv, Vector512.Create<float>(acc.Slice(i, 16))).CopyTo(acc.Slice(i, 16));
        }
        for (; i < v.Length; i++) acc[i] = MathF.FusedMultiplyAdd(v[i], prob, acc[i]);
    }
}
