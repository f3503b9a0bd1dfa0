namespace Actors.Inference.Compute;

/// <summary>
/// Which tokens llama.cpp multiplies in its batch order. Its repacked CPU matmuls (Q4_K) take a batch of
/// n tokens four at a time with a gemm and the last n mod 4 one at a time with a gemv, and the two sum
/// in different float orders; each token's result depends on that token alone in both. A prompt run
/// alone (in ubatches of a multiple of 4) therefore has its first P − P mod 4 tokens in the gemm order
/// and the rest, with every generated token, in the gemv order.
/// </summary>
public static class BatchOrder
{
    /// <summary>Tokens of a prompt of <paramref name="promptLength"/> that llama.cpp multiplies in its batch (gemm) order.</summary>
    public static int PromptEnd(int promptLength) => promptLength - promptLength % 4;
}
