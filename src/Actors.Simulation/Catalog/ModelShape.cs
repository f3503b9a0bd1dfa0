using Actors.Inference.Model;

namespace Actors.Simulation.Catalog;

/// <summary>
/// A named model shape: a <see cref="LlamaConfig"/> without weights, plus the weight counts the cost
/// model and the planner need. Counts follow the Llama layout: per layer q/k/v/o projections, a gated
/// MLP (gate, up, down) and two RMS norms; an untied embedding and output head; a final norm.
/// </summary>
public sealed record ModelShape(string Name, LlamaConfig Config)
{
    public int Dim => Config.EmbeddingLength;
    public int Layers => Config.BlockCount;

    /// <summary>q and o are dim x (heads x head_dim); k and v are dim x (kv_heads x head_dim).</summary>
    public long AttentionWeightsPerLayer => 2L * Dim * Config.QueryDim + 2L * Dim * Config.KvDim;

    /// <summary>gate and up are dim x ffn, down is ffn x dim.</summary>
    public long MlpWeightsPerLayer => 3L * Dim * Config.FeedForwardLength;

    /// <summary>Attention and MLP matrices of one layer (the norms are negligible and kept in F32).</summary>
    public long MatrixWeightsPerLayer => AttentionWeightsPerLayer + MlpWeightsPerLayer;

    public long NormWeightsPerLayer => 2L * Dim;

    public long EmbeddingWeights => (long)Config.VocabSize * Dim;

    /// <summary>The output head (lm_head); Llama models do not tie it to the embedding.</summary>
    public long OutputWeights => (long)Config.VocabSize * Dim;

    public long TotalParameters => Layers * (MatrixWeightsPerLayer + NormWeightsPerLayer) + EmbeddingWeights + OutputWeights + Dim;

    /// <summary>Bytes of every weight in the given format (norms in F32, as GGUF files keep them).</summary>
    public long WeightBytes(WeightFormat format)
        => format.BytesFor(Layers * MatrixWeightsPerLayer + EmbeddingWeights + OutputWeights) + 4L * (Layers * NormWeightsPerLayer + Dim);

    /// <summary>KV bytes per token for all layers at the given element size (2 = F16).</summary>
    public long KvBytesPerToken(int elementBytes = 2) => Config.KvBytesPerToken(elementBytes);

    /// <summary>
    /// KV bytes one sequence of <paramref name="context"/> tokens keeps in <paramref name="layers"/>: a
    /// sliding-window layer only its window (<see cref="LayerAttention.KvTokensNeeded"/>), every other layer the
    /// whole context. All layers when <paramref name="layers"/> is null.
    /// </summary>
    public long KvBytesPerSequence(long context, int elementBytes = 2, Inference.Compute.LayerRange? layers = null)
    {
        var range = layers ?? new Inference.Compute.LayerRange(0, Layers);
        long tokens = 0;
        for (int l = range.Start; l < range.End; l++)
            tokens += Config.IsSlidingLayer(l) ? Math.Min(context, Config.SlidingWindow) : context;
        return tokens * 2L * Config.KvDim * elementBytes;
    }

    public override string ToString() => Name;
}
