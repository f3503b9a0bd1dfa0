namespace Actors.Inference.Model;

/// <summary>
/// The weights of one transformer block (GGUF `blk.N.*`). A fused tensor (phi3's attn_qkv, its
/// gate-and-up ffn_up) is presented as row ranges of the one tensor, so every backend sees separate
/// matrices. The optional parts are present only where the architecture has them.
/// </summary>
public sealed record LlamaLayerWeights(
    float[] AttentionNorm,  // [dim]
    WeightMatrix Query,     // rows q_dim, cols dim
    WeightMatrix Key,       // rows kv_dim, cols dim
    WeightMatrix Value,     // rows kv_dim, cols dim
    WeightMatrix Output,    // rows dim, cols q_dim
    float[] FfnNorm,        // [dim]
    WeightMatrix Gate,      // rows ffn, cols dim
    WeightMatrix Up,        // rows ffn, cols dim
    WeightMatrix Down,      // rows dim, cols ffn
    float[]? QueryBias = null,          // [q_dim] (qwen2)
    float[]? KeyBias = null,            // [kv_dim] (qwen2)
    float[]? ValueBias = null,          // [kv_dim] (qwen2)
    float[]? QueryNorm = null,          // [head_dim] (qwen3, gemma3)
    float[]? KeyNorm = null,            // [head_dim] (qwen3, gemma3)
    float[]? PostAttentionNorm = null,  // [dim] (gemma2/3)
    float[]? PostFfnNorm = null)        // [dim] (gemma2/3)
{
    public IEnumerable<WeightMatrix> Matrices => [Query, Key, Value, Output, Gate, Up, Down];

    private IEnumerable<float[]> Vectors =>
        new[] { AttentionNorm, FfnNorm, QueryBias, KeyBias, ValueBias, QueryNorm, KeyNorm, PostAttentionNorm, PostFfnNorm }.OfType<float[]>();

    public long ByteSize => Matrices.Sum(m => m.ByteSize) + 4L * Vectors.Sum(v => v.Length);
}
