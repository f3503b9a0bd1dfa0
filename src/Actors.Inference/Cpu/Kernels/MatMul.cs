using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// y = W·x on the CPU, reading GGUF blocks in place. <see cref="Prepare"/> converts the activations
/// once per input; <see cref="Compute"/> may then run on several threads over disjoint row ranges.
/// Every output y[t, r] is bit-identical whatever the number of tokens, t's position in the batch
/// and the row split (each (row, token) pair has one fixed reduction order per kernel path).
/// </summary>
public static class MatMul
{
    /// <summary>
    /// Bytes of weight rows one pass over the token tiles reuses from cache during prefill: rows are
    /// taken in chunks this large so every token tile finds them in L2 (1 MiB/core on Zen 4/5).
    /// </summary>
    private const int RowChunkBytes = 192 * 1024;

    /// <summary>Converts x [tokens, cols] (row-major floats) for multiplication with weights of <paramref name="weightType"/>.</summary>
    public static void Prepare(GgmlType weightType, ReadOnlySpan<float> x, int tokens, int cols, PreparedActivations act) =>
        Prepare(weightType, x, tokens, cols, act, KernelPath.Auto);

    /// <summary>y[t·yStride + r] = Σ_i W[r, i]·x[t, i] for r in [rowStart, rowEnd) and t in [0, tokens).</summary>
    public static void Compute(WeightMatrix w, PreparedActivations act, int tokens, Span<float> y, int yStride, int rowStart, int rowEnd) =>
        Compute(w, act, tokens, y, yStride, rowStart, rowEnd, KernelPath.Auto);

    internal static void Prepare(GgmlType weightType, ReadOnlySpan<float> x, int tokens, int cols, PreparedActivations act, KernelPath path)
    {
        PrepareShape(weightType, x, tokens, cols, act, path);
        PrepareTokens(x, act, 0, tokens);
    }

    /// <summary>
    /// The first half of <see cref="Prepare(GgmlType, ReadOnlySpan{float}, int, int, PreparedActivations)"/>: checks
    /// the shapes, sizes the buffers and fixes the form; <see cref="PrepareTokens"/> then converts token ranges,
    /// which may run on several threads (each token's values depend on that token alone).
    /// </summary>
    public static void PrepareShape(GgmlType weightType, ReadOnlySpan<float> x, int tokens, int cols, PreparedActivations act) =>
        PrepareShape(weightType, x, tokens, cols, act, KernelPath.Auto);

    internal static void PrepareShape(GgmlType weightType, ReadOnlySpan<float> x, int tokens, int cols, PreparedActivations act, KernelPath path)
    {
        ArgumentNullException.ThrowIfNull(act);
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cols);
        if (x.Length < (long)tokens * cols) throw new ArgumentException($"x holds {x.Length} values, need {tokens} x {cols}", nameof(x));
        var kind = KindOf(weightType);
        int bs = kind switch { ActivationKind.Q8_0 or ActivationKind.Q8_1 => 32, ActivationKind.Q8_K => 256, _ => 1 };
        if (cols % bs != 0) throw new ArgumentException($"{weightType} needs cols to be a multiple of {bs}, got {cols}", nameof(cols));
        act.EnsureCapacity(tokens, cols);
        act.SetShape(kind, weightType, tokens, cols, bs);
        path = KernelDispatch.Resolve(path); // quantized values do not depend on the path; Q4_0's storage order does
        act.QuadInterleaved = weightType == GgmlType.Q4_0 && path == KernelPath.Avx512;
        act.HasRepackSums = path == KernelPath.Avx512 && (kind is ActivationKind.Q8_0 or ActivationKind.Q8_K or ActivationKind.Q8_1);
    }

    /// <summary>Converts tokens [t0, t1) of x [tokens, cols] into the form <see cref="PrepareShape(GgmlType, ReadOnlySpan{float}, int, int, PreparedActivations)"/> fixed.</summary>
    public static void PrepareTokens(ReadOnlySpan<float> x, PreparedActivations act, int t0, int t1)
    {
        ArgumentNullException.ThrowIfNull(act);
        if (t0 < 0 || t1 > act.Tokens || t0 > t1) throw new ArgumentOutOfRangeException(nameof(t0), $"tokens [{t0}, {t1}) of {act.Tokens} prepared");
        int cols = act.Cols;
        if (x.Length < (long)t1 * cols) throw new ArgumentException($"x holds {x.Length} values, need {t1} x {cols}", nameof(x));
        int nb = act.Blocks, ss = act.ScaleStride;
        var weightType = act.WeightType;
        for (int t = t0; t < t1; t++)
        {
            var xt = x.Slice(t * cols, cols);
            switch (act.Kind)
            {
                case ActivationKind.Float:
                    xt.CopyTo(act.Floats.Slice(t * cols, cols));
                    // ggml multiplies BF16 weights with activations rounded to BF16 (its vec_dot_type), as
                    // AVX512-BF16 and cuBLAS BF16 GEMMs do; rounding the same way keeps llama.cpp's logits.
                    if (weightType == GgmlType.BF16) RoundToBFloat16(act.Floats.Slice(t * cols, cols));
                    break;
                case ActivationKind.Q8_0:
                    ActivationQuantizer.QuantizeQ8_0(xt, act.Quants.Slice(t * cols, cols), act.Scales.Slice(t * ss, nb), act.ScaledSums.Slice(t * ss, nb));
                    // The AVX-512 path (the only one with repacked tiles) also wants the offset sums.
                    if (act.HasRepackSums && weightType == GgmlType.Q8_0) OffsetSums(act.Quants.Slice(t * cols, cols), act.OffsetSums.Slice(t * (cols / 4), cols / 4));
                    if (act.HasRepackSums && weightType == GgmlType.Q5_0) OffsetSums(act.Quants.Slice(t * cols, cols), act.OffsetSums.Slice(t * (cols / 4), cols / 4), Q5_0Format.Offset);
                    if (act.HasRepackSums && weightType == GgmlType.Q4_0) BlockOffsetSums(act.Quants.Slice(t * cols, cols), act.OffsetSums.Slice(t * (cols / 4), nb), Q4_0Levels.Offset);
                    if (act.HasRepackSums && weightType == GgmlType.IQ4_NL) BlockOffsetSums(act.Quants.Slice(t * cols, cols), act.OffsetSums.Slice(t * (cols / 4), nb), IQ4_NLLevels.Offset);
                    if (act.QuadInterleaved) InterleaveQuads(act.Quants.Slice(t * cols, cols));
                    // Zero the padding: kernels load scales 16 at a time and must see 0 past the last block.
                    act.Scales.Slice(t * ss + nb, ss - nb).Clear();
                    act.ScaledSums.Slice(t * ss + nb, ss - nb).Clear();
                    break;
                case ActivationKind.Q8_1:
                    ActivationQuantizer.QuantizeQ8_1(xt, act.Quants.Slice(t * cols, cols), act.Scales.Slice(t * ss, nb), act.ScaledSums.Slice(t * ss, nb));
                    act.Scales.Slice(t * ss + nb, ss - nb).Clear();
                    act.ScaledSums.Slice(t * ss + nb, ss - nb).Clear();
                    break;
                case ActivationKind.Q8_K:
                    ActivationQuantizer.QuantizeQ8_K(xt, act.Quants.Slice(t * cols, cols), act.Scales.Slice(t * ss, nb), act.Sums16.Slice(t * nb * 16, nb * 16));
                    if (act.HasRepackSums) PairSums(act.Sums16.Slice(t * nb * 16, nb * 16), act.PairSums.Slice(t * nb * 4, nb * 4));
                    act.Scales.Slice(t * ss + nb, ss - nb).Clear();
                    break;
            }
        }
    }

    /// <summary>−offset·Σq per four values (in element order): the repacked Q8_0 (128) and Q5_0 (16) tiles' offset correction, one per int lane.</summary>
    private static void OffsetSums(ReadOnlySpan<sbyte> q, Span<int> sums, int offset = 128)
    {
        for (int j = 0; j < sums.Length; j++) sums[j] = -offset * (q[4 * j] + q[4 * j + 1] + q[4 * j + 2] + q[4 * j + 3]);
    }

    /// <summary>−offset·Σq per 32-value block: the start of <see cref="RepackedNibbles{T}"/>'s lanes, whose weights carry +offset.</summary>
    private static void BlockOffsetSums(ReadOnlySpan<sbyte> q, Span<int> sums, int offset)
    {
        for (int b = 0; b < sums.Length; b++)
        {
            int s = 0;
            foreach (var v in q.Slice(32 * b, 32)) s += v;
            sums[b] = -offset * s;
        }
    }

    /// <summary>Sums of 32 values (two 16-value sums) paired as int16 halves of an int32: sub-blocks 2k (low) and 2k+1 (high).</summary>
    private static void PairSums(ReadOnlySpan<short> sums16, Span<int> pairs)
    {
        for (int k = 0; k < pairs.Length; k++)
        {
            int lo = sums16[4 * k] + sums16[4 * k + 1], hi = sums16[4 * k + 2] + sums16[4 * k + 3];
            pairs[k] = (ushort)lo | hi << 16;
        }
    }

    private static void RoundToBFloat16(Span<float> values)
    {
        for (int i = 0; i < values.Length; i++) values[i] = Quantization.BFloat16.ToSingle(Quantization.BFloat16.FromSingle(values[i]));
    }

    /// <summary>Reorders whole quads of Q8_0 blocks in place into the <see cref="PreparedActivations.QuadInterleaved"/> order.</summary>
    private static void InterleaveQuads(Span<sbyte> q)
    {
        Span<sbyte> tmp = stackalloc sbyte[128];
        for (int o = 0; o + 128 <= q.Length; o += 128)
        {
            var quad = q.Slice(o, 128);
            quad.CopyTo(tmp);
            for (int k = 0; k < 4; k++)
            {
                tmp.Slice(32 * k, 16).CopyTo(quad.Slice(16 * k, 16));
                tmp.Slice(32 * k + 16, 16).CopyTo(quad.Slice(64 + 16 * k, 16));
            }
        }
    }

    internal static void Compute(WeightMatrix w, PreparedActivations act, int tokens, Span<float> y, int yStride, int rowStart, int rowEnd, KernelPath path)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(act);
        if (act.Kind != KindOf(w.Type) || act.Cols != w.Cols)
            throw new ArgumentException($"activations were prepared for {act.WeightType} with {act.Cols} columns, not {w}", nameof(act));
        path = KernelDispatch.Resolve(path);
        if (act.QuadInterleaved != (w.Type == GgmlType.Q4_0 && path == KernelPath.Avx512))
            throw new ArgumentException($"activations were prepared for {act.WeightType} on another kernel path than {path} ({w})", nameof(act));
        if (tokens < 0 || tokens > act.Tokens) throw new ArgumentOutOfRangeException(nameof(tokens), $"{tokens} tokens, {act.Tokens} prepared");
        if (rowStart < 0 || rowEnd > w.Rows || rowStart > rowEnd) throw new ArgumentOutOfRangeException(nameof(rowStart), $"rows [{rowStart}, {rowEnd}) of {w.Rows}");
        if (tokens == 0 || rowStart == rowEnd) return;
        if (tokens > 1 && yStride < rowEnd) throw new ArgumentOutOfRangeException(nameof(yStride), "rows of different tokens would overlap");
        if (y.Length < (long)(tokens - 1) * yStride + rowEnd) throw new ArgumentException("y is too small", nameof(y));
        if (path == KernelPath.Avx512 && w.Repacked is RepackedWeights rp)
        {
            if (!act.HasRepackSums) throw new ArgumentException($"activations were prepared on another kernel path than {path} ({w})", nameof(act));
            rp.Compute(act, tokens, ref MemoryMarshal.GetReference(y), yStride, rowStart, rowEnd);
            return;
        }
        switch (w.Type)
        {
            case GgmlType.F32 when path == KernelPath.Avx512 && act.HasTokenOrder && F32BatchOrder.Applies(w.Cols):
                F32BatchOrder.Run(w, act, tokens, y, yStride, rowStart, rowEnd);
                break;
            case GgmlType.F32: Run<FloatKernel<F32Weights>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.F16 when HalfRowsPrefill.Applies(path, tokens):
                HalfRowsPrefill.Run(path, w, act, tokens, ref Unsafe.Add(ref MemoryMarshal.GetReference(y), rowStart), yStride, rowStart, rowEnd - rowStart);
                break;
            case GgmlType.F16: Run<FloatKernel<F16Weights>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.BF16: Run<FloatKernel<BF16Weights>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q8_0: Run<Q8_0Kernel>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q4_0: Run<Q4_0Kernel>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q4_K: Run<Q4_KKernel>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q6_K: Run<Q6_KKernel>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q4_1: Run<Block32Kernel<Q4_1Decoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q5_0: Run<Block32Kernel<Q5_0Decoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q5_1: Run<Block32Kernel<Q5_1Decoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.IQ4_NL: Run<Block32Kernel<IQ4_NLDecoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q2_K when path == KernelPath.Avx512 && act.HasTokenOrder:
                RunQ2_KOrdered(w, act, tokens, y, yStride, rowStart, rowEnd);
                break;
            case GgmlType.Q2_K: Run<SuperBlockKernel<Q2_KDecoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q3_K: Run<SuperBlockKernel<Q3_KDecoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.Q5_K: Run<SuperBlockKernel<Q5_KDecoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            case GgmlType.IQ4_XS: Run<SuperBlockKernel<IQ4_XSDecoder>>(path, w, act, tokens, y, yStride, rowStart, rowEnd); break;
            default: throw new NotSupportedException($"no CPU matmul for {w.Type}");
        }
    }

    internal static ActivationKind KindOf(GgmlType t) => t switch
    {
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 => ActivationKind.Float,
        GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q5_0 or GgmlType.IQ4_NL => ActivationKind.Q8_0,
        GgmlType.Q4_1 or GgmlType.Q5_1 => ActivationKind.Q8_1,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.IQ4_XS => ActivationKind.Q8_K,
        _ => throw new NotSupportedException($"no CPU matmul for {t}"),
    };

    /// <summary>
    /// Loops rows × tokens. Decode (one token) streams each row once. Prefill takes rows in chunks
    /// that stay in cache and runs every token tile over a chunk before moving on, so weights come
    /// from memory once per chunk instead of once per tile.
    /// </summary>
    private static void Run<K>(KernelPath path, WeightMatrix w, PreparedActivations act, int tokens, Span<float> y, int yStride, int rowStart, int rowEnd)
        where K : struct, IRowKernel
    {
        int rows = rowEnd - rowStart;
        RunRows<K>(path, ref MemoryMarshal.GetReference(w.RowSpan(rowStart, rows)), w.RowBytes, rows, act, tokens,
            ref Unsafe.Add(ref MemoryMarshal.GetReference(y), rowStart), yStride);
    }

    /// <summary>
    /// Q2_K with each token in the order <see cref="PreparedActivations.SetTokenOrder"/> named (llama.cpp's
    /// repacked gemm for batch-order tokens, four at a time; its gemv, as <see cref="Run{K}"/>, for the rest).
    /// Row kernels only: weights Q2_K that were not repacked (repacking off or without Q2_K, no GFNI) take it;
    /// <see cref="RepackedQ2_K"/> computes the same bits.
    /// </summary>
    private static void RunQ2_KOrdered(WeightMatrix w, PreparedActivations act, int tokens, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        int rows = rowEnd - rowStart, rb = w.RowBytes;
        ref byte w0 = ref MemoryMarshal.GetReference(w.RowSpan(rowStart, rows));
        ref float y0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(y), rowStart);
        int nBatch = act.BatchTokenCount;
        while (nBatch > 0 && act.BatchTokens[nBatch - 1] >= tokens) nBatch--;
        Span<int> four = stackalloc int[4];
        Span<float> out4 = stackalloc float[4];
        int chunk = Math.Max(1, RowChunkBytes / rb);
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int r1 = Math.Min(rows, r0 + chunk);
            for (int i = 0; i < nBatch; i += 4)
            {
                int n = Math.Min(4, nBatch - i);
                for (int k = 0; k < 4; k++) four[k] = act.BatchTokens[i + Math.Min(k, n - 1)];
                for (int r = r0; r < r1; r++)
                {
                    SuperBlockKernel<Q2_KDecoder>.BatchTile(ref Unsafe.Add(ref w0, (nint)r * rb), act, ref MemoryMarshal.GetReference(four), ref MemoryMarshal.GetReference(out4));
                    for (int k = 0; k < n; k++) Unsafe.Add(ref y0, (nint)four[k] * yStride + r) = out4[k];
                }
            }
        }
        // The one-token order, run by run of consecutive tokens.
        for (int i = 0; i < act.SingleTokenCount && act.SingleTokens[i] < tokens;)
        {
            int t = act.SingleTokens[i], j = i + 1;
            while (j < act.SingleTokenCount && act.SingleTokens[j] == t + (j - i) && act.SingleTokens[j] < tokens) j++;
            RunRows<SuperBlockKernel<Q2_KDecoder>>(KernelPath.Avx512, ref w0, rb, rows, act, t + (j - i), ref y0, yStride, firstToken: t);
            i = j;
        }
    }

    /// <summary><see cref="Run{K}"/> on <paramref name="rows"/> rows of <paramref name="rb"/> bytes from <paramref name="w0"/>, outputs from <paramref name="y0"/>, tokens [firstToken, tokens).</summary>
    internal static void RunRows<K>(KernelPath path, ref byte w0, int rb, int rows, PreparedActivations act, int tokens, ref float y0, int yStride, int firstToken = 0)
        where K : struct, IRowKernel
    {
        int tile = K.Tile(path);
        if (tokens - firstToken < tile) tile = 1;
        int done = firstToken > 0 ? firstToken : tokens > 1 ? K.Prefill(path, ref w0, rb, rows, act, tokens, ref y0, yStride) : 0;
        int chunk = tokens - firstToken == 1 ? rows : Math.Max(1, RowChunkBytes / rb);
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int r1 = Math.Min(rows, r0 + chunk);
            int t = done;
            if (tile > 1)
            {
                for (; t + tile <= tokens; t += tile)
                {
                    ref float yt = ref Unsafe.Add(ref y0, (nint)t * yStride);
                    for (int r = r0; r < r1; r++)
                        K.DotTile(path, ref Unsafe.Add(ref w0, (nint)r * rb), act, t, ref Unsafe.Add(ref yt, r), yStride);
                }
            }
            for (; t < tokens; t++)
            {
                ref float yt = ref Unsafe.Add(ref y0, (nint)t * yStride);
                // Rows r and r + half go together: two memory streams far apart.
                int half = (r1 - r0) / 2, r = r0;
                bool paired = half > 0;
                for (; paired && r < r0 + half; r++)
                    paired = K.Dot2Rows(path, ref Unsafe.Add(ref w0, (nint)r * rb), ref Unsafe.Add(ref w0, (nint)(r + half) * rb), act, t,
                        out Unsafe.Add(ref yt, r), out Unsafe.Add(ref yt, r + half));
                if (paired) r += half;
                else r = r0;
                for (; r < r1; r++)
                    Unsafe.Add(ref yt, r) = K.Dot1(path, ref Unsafe.Add(ref w0, (nint)r * rb), act, t);
            }
        }
    }

    /// <summary>
    /// Whether, with weights of <paramref name="weightType"/> in rows of <paramref name="cols"/>, the
    /// tokens left over after the whole tiles take a second pass over the rows (from DRAM when the
    /// matrix outgrows the caches): the float kernels' cache-blocked prefill runs every tile over all
    /// rows first. Performance models (`actors validate`) need to know.
    /// </summary>
    public static bool LeftoversRereadWeights(GgmlType weightType, int cols)
    {
        var path = KernelDispatch.Resolve(KernelPath.Auto);
        return weightType switch
        {
            GgmlType.F32 => FloatKernel<F32Weights>.BlocksPrefill(path, cols),
            GgmlType.F16 => FloatKernel<F16Weights>.BlocksPrefill(path, cols),
            GgmlType.BF16 => FloatKernel<BF16Weights>.BlocksPrefill(path, cols),
            _ => false,
        };
    }

    /// <summary>
    /// How many tokens the kernel for <paramref name="weightType"/> multiplies together in one tile on
    /// this machine (1: one token at a time). Fewer tokens than a tile, and the tokens left over after
    /// the whole tiles, go one at a time: performance models (`actors validate`) need to know where.
    /// </summary>
    public static int TileTokens(GgmlType weightType)
    {
        var path = KernelDispatch.Resolve(KernelPath.Auto);
        return weightType switch
        {
            GgmlType.F32 => FloatKernel<F32Weights>.Tile(path),
            GgmlType.F16 => FloatKernel<F16Weights>.Tile(path),
            GgmlType.BF16 => FloatKernel<BF16Weights>.Tile(path),
            GgmlType.Q8_0 => Q8_0Kernel.Tile(path),
            GgmlType.Q4_0 => Q4_0Kernel.Tile(path),
            GgmlType.Q4_K => Q4_KKernel.Tile(path),
            GgmlType.Q6_K => Q6_KKernel.Tile(path),
            GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.IQ4_NL => Block32Kernel<Q5_0Decoder>.Tile(path),
            GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q5_K or GgmlType.IQ4_XS => SuperBlockKernel<Q5_KDecoder>.Tile(path),
            _ => throw new NotSupportedException($"no CPU matmul for {weightType}"),
        };
    }
}
