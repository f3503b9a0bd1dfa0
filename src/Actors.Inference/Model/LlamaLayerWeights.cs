namespace Actors.Inference.Model;

/// <summary>The weights of one transformer block (GGUF `blk.N.*`).</summary>
public sealed record LlamaLayerWeights(
    float[] AttentionNorm,  // [dim]
    WeightMatrix Query,     // rows q_dim, cols dim
    WeightMatrix Key,       // rows kv_dim, cols dim
    WeightMatrix Value,     // rows kv_dim, cols dim
    WeightMatrix Output,    // rows dim, cols q_dim
    float[] FfnNorm,        // [dim]
    WeightMatrix Gate,      // rows ffn, cols dim
    WeightMatrix Up,        // rows ffn, cols dim
    WeightMatrix Down)      // rows dim, cols ffn
{
    public IEnumerable<WeightMatrix> Matrices => [Query, Key, Value, Output, Gate, Up, Down];
    public long ByteSize => Matrices.Sum(m => m.ByteSize) + 4L * (AttentionNorm.Length + FfnNorm.Length);
}
