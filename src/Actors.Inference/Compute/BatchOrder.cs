namespace Actors.Inference.Compute;

/// <summary>
/// Which float order llama.cpp's CPU backend (AVX-512 build) sums a token's matmul in, which depends on the
/// batch (one llama_decode call) the token comes in, never on the token's neighbours:
/// <list type="bullet">
/// <item>Repacked Q4_K and Q2_K rows: a batch of n tokens goes four at a time through the repacked gemm and the
/// last n mod 4 one at a time through the gemv, which fold the integer sums into f32 at other strides
/// (<see cref="Gemm"/>).</item>
/// <item>F32 (and F16, BF16) rows: a batch of two or more tokens goes through tinyBLAS (llamafile_sgemm, one
/// 16-lane FMA chain per output), a single token through ggml_vec_dot (<see cref="Sgemm"/>).</item>
/// </list>
/// The engine gives every prompt the orders llama.cpp gives it run alone (its ubatches of 512 keep both rules)
/// and every generated token the one-token orders, so a sequence's results do not depend on its batch.
/// </summary>
public static class BatchOrder
{
    /// <summary>Whether the token at <paramref name="position"/> of a batch spanning positions [start, end) takes the repacked gemm's order.</summary>
    public static bool Gemm(int position, int start, int end)
    {
        int n = end - start;
        return position >= start && position - start < n - n % 4;
    }

    /// <summary>Whether the token at <paramref name="position"/> of a batch spanning positions [start, end) takes tinyBLAS's order.</summary>
    public static bool Sgemm(int position, int start, int end) => position >= start && position < end && end - start >= 2;
}
