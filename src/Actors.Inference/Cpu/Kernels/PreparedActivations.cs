using Actors.Inference.Gguf;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>What form the activations take for a weight type (llama.cpp's vec_dot_type).</summary>
internal enum ActivationKind
{
    None = 0,
    /// <summary>f32 values, for F32/F16/BF16 weights.</summary>
    Float,
    /// <summary>Q8_0 blocks of 32 (f16 scale widened to f32, int8 values, scale·Σq), for Q8_0/Q4_0/Q5_0/IQ4_NL weights.</summary>
    Q8_0,
    /// <summary>Q8_K blocks of 256 (f32 scale, int8 values, 16 int16 sums of 16), for Q2_K..Q6_K and IQ4_XS weights.</summary>
    Q8_K,
    /// <summary>Q8_1 blocks of 32 (f16 scale d, int8 values, f16 s = d·Σq), for Q4_1/Q5_1 weights.</summary>
    Q8_1,
}

/// <summary>
/// Activations converted once per input for one weight type, then shared read-only by every thread
/// that computes a row range. Reuse one instance: buffers only grow, so steady-state calls allocate
/// nothing.
/// </summary>
/// <remarks>
/// Layout (token-major, structure of arrays so each kernel loads exactly the vectors it needs; every
/// buffer starts on a 64-byte boundary):
/// <list type="bullet">
/// <item><see cref="Floats"/>[t·Cols + i] for float weights.</item>
/// <item><see cref="Quants"/>[t·Cols + i]: int8 values in ggml's element order, except for Q4_0 weights on
/// the AVX-512 path, where whole quads of blocks are interleaved (<see cref="QuadInterleaved"/>).</item>
/// <item><see cref="Scales"/>[t·ScaleStride + b]: f32 scale d of block b. ScaleStride rounds the block
/// count up to 16 and the padding is zero, so kernels may load 16 scales at a time past the last block.</item>
/// <item><see cref="ScaledSums"/>[t·ScaleStride + b] (Q8_0 and Q8_1): d·Σq of block b, for weight types whose
/// integers carry an offset (Q4_0 stores q+8) or a min (Q4_1, Q5_1: ggml's f16 s).</item>
/// <item><see cref="OffsetSums"/>[t·Cols/4 + j] (Q8_0 weights on the AVX-512 path): −128·Σq of values 4j..4j+3.</item>
/// <item><see cref="Sums16"/>[(t·Blocks + b)·16 + j] (Q8_K only): Σ of q over elements 16j..16j+15 of block b.</item>
/// </list>
/// </remarks>
public sealed class PreparedActivations
{
    internal readonly AlignedBuffer<float> Floats = new();
    internal readonly AlignedBuffer<sbyte> Quants = new();
    internal readonly AlignedBuffer<float> Scales = new();
    internal readonly AlignedBuffer<float> ScaledSums = new();
    internal readonly AlignedBuffer<short> Sums16 = new();

    /// <summary>
    /// Q8_0 weights on the AVX-512 path: −128·Σq of values 4j..4j+3 of token t at [t·Cols/4 + j], the start of
    /// each four-value integer lane of <see cref="RepackedQ8_0"/>, whose weights carry +128 (Q5_0 weights: −16·Σq, for
    /// <see cref="RepackedBlock32{T}"/>, whose weights carry +16). Q4_0 / IQ4_NL weights:
    /// −8·Σq / −128·Σq of block b at [t·Cols/4 + b], the start of <see cref="RepackedNibbles{T}"/>'s lanes.
    /// </summary>
    internal readonly AlignedBuffer<int> OffsetSums = new();

    /// <summary>
    /// Q8_K on the AVX-512 path: the sums of the 32-value sub-blocks 2k and 2k+1 of block b of token t as two
    /// int16 in one int32 at [(t·Blocks + b)·4 + k], the mins' partner in <see cref="RepackedQ4_K"/>'s vpmaddwd.
    /// </summary>
    internal readonly AlignedBuffer<int> PairSums = new();

    internal ActivationKind Kind;

    /// <summary>
    /// Whether <see cref="SetTokenOrder"/> named the tokens to multiply in llama.cpp's batch order; false = every
    /// token in its one-token order. Kernels whose batch and one-token orders agree ignore it.
    /// </summary>
    internal bool HasTokenOrder;

    /// <summary>Ascending indices of the tokens in the batch order [<see cref="BatchTokenCount"/>] (when <see cref="HasTokenOrder"/>).</summary>
    internal int[] BatchTokens = [];
    internal int BatchTokenCount;

    /// <summary>Ascending indices of the tokens in the one-token order [<see cref="SingleTokenCount"/>] (when <see cref="HasTokenOrder"/>).</summary>
    internal int[] SingleTokens = [];
    internal int SingleTokenCount;

    /// <summary>
    /// Q8_0 values stored four blocks at a time as [elements 0..15 of blocks 0..3, elements 16..31 of
    /// blocks 0..3] (whole quads only; a row's last nb mod 4 blocks stay in order). The AVX-512 Q4_0
    /// kernel unpacks four blocks' nibbles in exactly that order, saving a shuffle per pair.
    /// </summary>
    internal bool QuadInterleaved;

    /// <summary>Whether <see cref="OffsetSums"/> / <see cref="PairSums"/> were filled (AVX-512 path): the repacked tiles need them.</summary>
    internal bool HasRepackSums;
    internal GgmlType WeightType;
    internal int Tokens;
    internal int Cols;
    internal int Blocks;
    internal int ScaleStride;

    /// <summary>Grows the buffers so that <paramref name="tokens"/> × <paramref name="cols"/> fit in any form.</summary>
    public void EnsureCapacity(int tokens, int cols)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(tokens);
        ArgumentOutOfRangeException.ThrowIfNegative(cols);
        long n = (long)tokens * cols;
        // Block counts for the smallest block (32); Q8_K's 256 needs fewer.
        long scales = (long)tokens * RoundUp16((cols + 31) / 32);
        long sums16 = (long)tokens * ((cols + 255) / 256) * 16;
        Floats.EnsureLength(n);
        Quants.EnsureLength(n);
        Scales.EnsureLength(scales);
        ScaledSums.EnsureLength(scales);
        OffsetSums.EnsureLength(n / 4 + 16);
        Sums16.EnsureLength(sums16);
        PairSums.EnsureLength(sums16 / 4);
    }

    internal static int RoundUp16(int n) => (n + 15) & ~15;

    /// <summary>
    /// Names, per prepared token, whether it is multiplied in llama.cpp's batch order (its repacked gemm) or
    /// its one-token order (gemv); call after preparing. Each token's result depends on its own flag only.
    /// Allocates only when the token count grows.
    /// </summary>
    public void SetTokenOrder(ReadOnlySpan<bool> batchOrder)
    {
        if (batchOrder.Length != Tokens) throw new ArgumentException($"{batchOrder.Length} order flags for {Tokens} prepared tokens", nameof(batchOrder));
        if (BatchTokens.Length < Tokens)
        {
            BatchTokens = new int[Tokens];
            SingleTokens = new int[Tokens];
        }
        BatchTokenCount = SingleTokenCount = 0;
        for (int t = 0; t < Tokens; t++)
        {
            if (batchOrder[t]) BatchTokens[BatchTokenCount++] = t;
            else SingleTokens[SingleTokenCount++] = t;
        }
        HasTokenOrder = true;
    }

    /// <summary>Quantized value i of token t in element order, whatever the storage order (for tests).</summary>
    internal sbyte QuantAt(int t, int i)
    {
        int b = i / 32, j = i % 32;
        if (QuadInterleaved && b < Blocks / 4 * 4)
        {
            int q = b / 4, k = b % 4;
            return Quants[t * Cols + 128 * q + (j < 16 ? 16 * k + j : 64 + 16 * k + j - 16)];
        }
        return Quants[t * Cols + i];
    }

    /// <summary>Records the shape and kind; called by <see cref="MatMul.Prepare"/> after the buffers are sized.</summary>
    internal void SetShape(ActivationKind kind, GgmlType weightType, int tokens, int cols, int blockSize)
    {
        Kind = kind;
        QuadInterleaved = false;
        HasRepackSums = false;
        HasTokenOrder = false;
        WeightType = weightType;
        Tokens = tokens;
        Cols = cols;
        Blocks = cols / blockSize;
        ScaleStride = RoundUp16(Blocks);
    }
}
