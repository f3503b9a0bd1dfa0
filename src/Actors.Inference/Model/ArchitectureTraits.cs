namespace Actors.Inference.Model;

/// <summary>How RoPE pairs the values of a head (ggml's rope modes).</summary>
public enum RopeStyle
{
    /// <summary>Adjacent pairs (x[2i], x[2i+1]): llama, mistral (the converter permuted Q/K to match).</summary>
    Normal = 0,
    /// <summary>Halves (x[i], x[i + n_rot/2]): GPT-NeoX style, used by qwen2/3, gemma2/3, phi3.</summary>
    Neox = 2,
}

/// <summary>The gated feed-forward's activation: h = act(gate) ⊙ up.</summary>
public enum GatedActivation
{
    /// <summary>SiLU (SwiGLU).</summary>
    Silu = 0,
    /// <summary>tanh-approximated GELU (GeGLU), through ggml's f16 lookup table on the CPU.</summary>
    GeluTanh = 1,
}

/// <summary>
/// What distinguishes one supported GGUF architecture's forward pass from llama's, as llama.cpp's
/// graph builders for that architecture compute it. Hyper-parameters come from metadata
/// (<see cref="LlamaConfig.FromGguf"/>); these are the fixed structural facts.
/// </summary>
public sealed record ArchitectureTraits(
    string Name,
    RopeStyle RopeStyle,
    bool QkvBias,            // attn_q/k/v.bias added after the projections (qwen2)
    bool QkNorm,             // attn_q_norm / attn_k_norm: RMS norm per head before RoPE (qwen3, gemma3)
    bool FusedQkv,           // attn_qkv.weight holds Q, K, V rows in that order (phi3)
    bool FusedGateUp,        // ffn_up.weight holds gate rows then up rows (phi3)
    GatedActivation Activation,
    bool PostNorms,          // post_attention_norm / post_ffw_norm on each sub-layer's output (gemma2/3)
    bool ScaleEmbedding,     // token embeddings multiplied by sqrt(embedding_length) (gemma)
    bool ScalesQuery,        // Q multiplied by the attention scale before QKᵀ, softmax scale 1 (gemma2/3, phi3); else the softmax scales QKᵀ
    int SlidingPattern)      // n: layer l slides when l % n < n − 1 (llama.cpp's set_swa_pattern); 0 = no sliding layers
{
    public static readonly ArchitectureTraits Llama = new("llama", RopeStyle.Normal, false, false, false, false, GatedActivation.Silu, false, false, false, 0);
    public static readonly ArchitectureTraits Mistral = Llama with { Name = "mistral" };
    public static readonly ArchitectureTraits Qwen2 = Llama with { Name = "qwen2", RopeStyle = RopeStyle.Neox, QkvBias = true };
    public static readonly ArchitectureTraits Qwen3 = Llama with { Name = "qwen3", RopeStyle = RopeStyle.Neox, QkNorm = true };
    public static readonly ArchitectureTraits Gemma2 = Llama with
    {
        Name = "gemma2", RopeStyle = RopeStyle.Neox, Activation = GatedActivation.GeluTanh, PostNorms = true, ScaleEmbedding = true, ScalesQuery = true, SlidingPattern = 2,
    };
    public static readonly ArchitectureTraits Gemma3 = Gemma2 with { Name = "gemma3", QkNorm = true, SlidingPattern = 6 };
    public static readonly ArchitectureTraits Phi3 = Llama with { Name = "phi3", RopeStyle = RopeStyle.Neox, FusedQkv = true, FusedGateUp = true, ScalesQuery = true };

    public static readonly IReadOnlyList<ArchitectureTraits> All = [Llama, Mistral, Qwen2, Qwen3, Gemma2, Gemma3, Phi3];

    public static string SupportedList => string.Join(", ", All.Select(a => a.Name));

    public static ArchitectureTraits? Find(string name) => All.FirstOrDefault(a => a.Name == name);

    /// <summary>Whether layer <paramref name="layer"/> uses sliding-window attention under this pattern.</summary>
    public bool IsSlidingLayer(int layer) => SlidingPattern > 0 && layer % SlidingPattern < SlidingPattern - 1;
}
