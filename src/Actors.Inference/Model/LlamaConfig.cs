using Actors.Inference.Gguf;

namespace Actors.Inference.Model;

/// <summary>
/// Hyper-parameters of a decoder-only transformer of one of the supported architectures (llama,
/// mistral, qwen2, qwen3, gemma2, gemma3, phi3), read from GGUF metadata under the `{arch}.` prefix
/// with the keys and defaults llama.cpp reads, and validated for consistency. Properties past
/// <see cref="Rope"/> default to llama's behaviour, so a config built in code stays a llama.
/// </summary>
public sealed record LlamaConfig
{
    public static IReadOnlyList<string> SupportedArchitectures { get; } = ArchitectureTraits.All.Select(a => a.Name).ToArray();

    public required string Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int HeadCount { get; init; }
    public required int HeadCountKv { get; init; }
    public required int HeadDim { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int VocabSize { get; init; }
    public required int ContextLength { get; init; }
    public required float RmsNormEps { get; init; }
    public required RopeParameters Rope { get; init; }

    /// <summary>The structural facts of <see cref="Architecture"/>.</summary>
    public ArchitectureTraits Traits { get; init; } = ArchitectureTraits.Llama;
    /// <summary>Multiplier of Q·K; 0 means 1/sqrt(head_dim).</summary>
    public float AttentionScale { get; init; }
    /// <summary>Attention scores become tanh(s/c)·c before the softmax (gemma2); 0 = none.</summary>
    public float AttentionSoftcap { get; init; }
    /// <summary>Logits become tanh(l/c)·c (gemma2); 0 = none.</summary>
    public float FinalLogitSoftcap { get; init; }
    /// <summary>Window of the sliding layers (<see cref="ArchitectureTraits.SlidingPattern"/>); 0 = none.</summary>
    public int SlidingWindow { get; init; }
    /// <summary>RoPE of the sliding layers where it differs from <see cref="Rope"/> (gemma3: base 10000, no scaling).</summary>
    public RopeParameters? SlidingRope { get; init; }

    public int QueryDim => HeadCount * HeadDim;
    public int KvDim => HeadCountKv * HeadDim;
    public int GroupSize => HeadCount / HeadCountKv;
    public float EffectiveAttentionScale => AttentionScale > 0 ? AttentionScale : 1.0f / MathF.Sqrt(HeadDim);

    /// <summary>Whether layer <paramref name="layer"/> attends over a sliding window.</summary>
    public bool IsSlidingLayer(int layer) => SlidingWindow > 0 && Traits.IsSlidingLayer(layer);

    /// <summary>The attention of layer <paramref name="layer"/>: window and RoPE.</summary>
    public LayerAttention LayerAttention(int layer) => IsSlidingLayer(layer)
        ? new LayerAttention(layer, SlidingWindow, SlidingRope ?? Rope)
        : new LayerAttention(layer, 0, Rope);

    /// <summary>Per-layer attention descriptions, in layer order.</summary>
    public IReadOnlyList<LayerAttention> LayerAttentions => Enumerable.Range(0, BlockCount).Select(LayerAttention).ToArray();

    public static LlamaConfig FromGguf(GgufFile file, float[]? ropeFreqFactors = null)
    {
        string name = Path.GetFileName(file.Path);
        string arch = file.GetString("general.architecture")
            ?? throw new ModelFormatException($"{name}: metadata 'general.architecture' is missing");
        var traits = ArchitectureTraits.Find(arch) ?? throw new ModelFormatException(
            $"{name}: architecture '{arch}' is not supported (supported: {ArchitectureTraits.SupportedList})");

        int Req(string key)
        {
            long v = file.GetInt($"{arch}.{key}") ?? throw new ModelFormatException($"{name}: metadata '{arch}.{key}' is missing");
            if (v <= 0 || v > int.MaxValue) throw new ModelFormatException($"{name}: metadata '{arch}.{key}' = {v} is out of range");
            return (int)v;
        }
        int Opt(string key, int fallback)
        {
            long? v = file.GetInt($"{arch}.{key}");
            if (v is null) return fallback;
            if (v <= 0 || v > int.MaxValue) throw new ModelFormatException($"{name}: metadata '{arch}.{key}' = {v} is out of range");
            return (int)v;
        }
        float OptPositive(string key, float fallback)
        {
            double v = file.GetFloat($"{arch}.{key}") ?? fallback;
            if (!(v > 0) || double.IsInfinity(v)) throw new ModelFormatException($"{name}: metadata '{arch}.{key}' = {v} must be positive");
            return (float)v;
        }

        int dim = Req("embedding_length");
        int layers = Req("block_count");
        int heads = Req("attention.head_count");
        int kvHeads = Opt("attention.head_count_kv", heads);
        int headDim = Opt("attention.key_length", dim % heads == 0 ? dim / heads : 0);
        if (headDim == 0) throw new ModelFormatException($"{name}: embedding_length {dim} is not divisible by head_count {heads} and attention.key_length is absent");
        int valueDim = Opt("attention.value_length", headDim);
        if (valueDim != headDim) throw new ModelFormatException($"{name}: attention.value_length {valueDim} differs from key_length {headDim}, which the supported architectures do not do");
        int ffn = Req("feed_forward_length");
        int ctx = Req("context_length");
        int vocab = Vocabulary(file, name, arch);
        float eps = (float)(file.GetFloat($"{arch}.attention.layer_norm_rms_epsilon")
            ?? throw new ModelFormatException($"{name}: metadata '{arch}.attention.layer_norm_rms_epsilon' is missing"));
        if (!(eps > 0 && eps < 1)) throw new ModelFormatException($"{name}: attention.layer_norm_rms_epsilon = {eps} is out of range (0, 1)");

        int ropeDim = Opt("rope.dimension_count", headDim);
        float freqBase = (float)(file.GetFloat($"{arch}.rope.freq_base") ?? 10000.0);
        if (!(freqBase > 1)) throw new ModelFormatException($"{name}: rope.freq_base = {freqBase} must be greater than 1");
        string scalingName = file.GetString($"{arch}.rope.scaling.type") ?? "none";
        var scaling = scalingName switch
        {
            "none" => RopeScalingType.None,
            "linear" => RopeScalingType.Linear,
            "yarn" => RopeScalingType.Yarn,
            _ => throw new ModelFormatException($"{name}: rope.scaling.type '{scalingName}' is not supported (none, linear, yarn)"),
        };
        double factor = file.GetFloat($"{arch}.rope.scaling.factor") ?? file.GetFloat($"{arch}.rope.scale_linear") ?? 0.0;
        if (factor < 0) throw new ModelFormatException($"{name}: rope.scaling.factor = {factor} is negative");
        float freqScale = factor == 0 ? 1f : (float)(1.0 / factor);
        int origCtx = Opt("rope.scaling.original_context_length", ctx);
        float attnFactor = (float)(file.GetFloat($"{arch}.rope.scaling.attn_factor") ?? 1.0);
        var rope = new RopeParameters(ropeDim, freqBase, scaling, freqScale, origCtx,
            ExtFactor: scaling == RopeScalingType.Yarn ? 1f : 0f, AttnFactor: attnFactor,
            BetaFast: 32f, BetaSlow: 1f, FreqFactors: ropeFreqFactors, Style: traits.RopeStyle);

        // Architecture-specific keys, with llama.cpp's defaults (llama-model.cpp, load_hparams).
        float attentionScale = 0, attnSoftcap = 0, finalSoftcap = 0;
        int window = 0;
        RopeParameters? slidingRope = null;
        switch (arch)
        {
            case "gemma2":
                window = Opt("attention.sliding_window", 4096);
                attnSoftcap = OptPositive("attn_logit_softcapping", 50f);
                finalSoftcap = OptPositive("final_logit_softcapping", 30f);
                attentionScale = GemmaAttentionScale(layers == 46, dim, heads, headDim);
                break;
            case "gemma3":
                window = Req("attention.sliding_window");
                attentionScale = GemmaAttentionScale(layers == 62, dim, heads, headDim);
                slidingRope = rope with { FreqBase = 10000f, FreqScale = 1f, Scaling = RopeScalingType.None, ExtFactor = 0f };
                break;
            // phi3: llama.cpp reads attention.sliding_window but disables sliding ("Phi SWA is currently disabled").
        }

        var config = new LlamaConfig
        {
            Architecture = arch,
            Traits = traits,
            EmbeddingLength = dim,
            BlockCount = layers,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = ffn,
            VocabSize = vocab,
            ContextLength = ctx,
            RmsNormEps = eps,
            Rope = rope,
            AttentionScale = attentionScale,
            AttentionSoftcap = attnSoftcap,
            FinalLogitSoftcap = finalSoftcap,
            SlidingWindow = window,
            SlidingRope = slidingRope,
        };
        config.Validate(name);
        return config;
    }

    /// <summary>Gemma's query scale: 1/sqrt(dim/heads) for the 27B models, else 1/sqrt(head_dim) (gemma_pytorch's config).</summary>
    private static float GemmaAttentionScale(bool is27B, int dim, int heads, int headDim) =>
        is27B ? 1.0f / MathF.Sqrt(dim / heads) : 1.0f / MathF.Sqrt(headDim);

    /// <summary>
    /// The vocabulary size: `{arch}.vocab_size`, else the token list's length, else the embedding's rows.
    /// The token list, its score and type arrays and the embedding must agree, or tokens would index
    /// past an array or an embedding row would have no token.
    /// </summary>
    private static int Vocabulary(GgufFile file, string name, string arch)
    {
        var embd = file.FindTensor("token_embd.weight") ?? throw new ModelFormatException($"{name}: tensor 'token_embd.weight' is missing");
        long rows = embd.Dims.Length == 2 ? embd.Dims[1] : -1;
        var tokens = file.GetArray<string>("tokenizer.ggml.tokens");
        if (tokens != null)
        {
            foreach (var key in new[] { "tokenizer.ggml.scores", "tokenizer.ggml.token_type" })
                if (file.Metadata.TryGetValue(key, out var v) && v.Value is Array a && a.Length < tokens.Length)
                    throw new ModelFormatException($"{name}: metadata '{key}' has {a.Length} entries, fewer than the {tokens.Length} of 'tokenizer.ggml.tokens'");
            if (rows >= 0 && tokens.Length != rows)
                throw new ModelFormatException($"{name}: metadata 'tokenizer.ggml.tokens' has {tokens.Length} entries but tensor 'token_embd.weight' has {rows} rows");
        }
        long vocab = file.GetInt($"{arch}.vocab_size") ?? tokens?.Length ?? rows;
        if (vocab <= 0 || vocab > int.MaxValue) throw new ModelFormatException($"{name}: vocabulary size {vocab} is out of range");
        return (int)vocab;
    }

    /// <summary>Checks the relations between the numbers; the error names the offending values.</summary>
    public void Validate(string source = "model")
    {
        if (HeadCountKv > HeadCount || HeadCount % HeadCountKv != 0)
            throw new ModelFormatException($"{source}: head_count {HeadCount} is not a multiple of head_count_kv {HeadCountKv}");
        if (Rope.Dimensions > HeadDim || Rope.Dimensions % 2 != 0 || Rope.Dimensions <= 0)
            throw new ModelFormatException($"{source}: rope.dimension_count {Rope.Dimensions} must be even and at most the head size {HeadDim}");
        if (Rope.FreqFactors is { } ff && ff.Length != Rope.Dimensions / 2)
            throw new ModelFormatException($"{source}: rope frequency factors have {ff.Length} values, expected rope.dimension_count/2 = {Rope.Dimensions / 2}");
        if (VocabSize <= 0) throw new ModelFormatException($"{source}: vocabulary size {VocabSize} is not positive");
        if (SlidingWindow < 0) throw new ModelFormatException($"{source}: attention.sliding_window {SlidingWindow} is negative");
    }

    /// <summary>Bytes of KV cache per token (K and V, all layers) at the given bytes per element.</summary>
    public long KvBytesPerToken(int bytesPerElement = 4) => 2L * BlockCount * KvDim * bytesPerElement;

    /// <summary>
    /// Bytes of paged KV one sequence of <paramref name="contextLength"/> tokens needs in layers
    /// [<paramref name="startLayer"/>, <paramref name="endLayer"/>) when each layer keeps only the
    /// blocks its attention can still reach (<see cref="LayerAttention.KvBlocksNeeded"/>): what a
    /// KV pool per layer group (sliding / global) would hold, against <see cref="KvBytesPerToken"/> ×
    /// context for one pool shared by all layers.
    /// </summary>
    public long KvBytesPerSequence(int contextLength, int blockSize, int bytesPerElement, int startLayer = 0, int endLayer = -1)
    {
        if (endLayer < 0) endLayer = BlockCount;
        long bytes = 0;
        for (int l = startLayer; l < endLayer; l++)
            bytes += (long)LayerAttention(l).KvBlocksNeeded(contextLength, blockSize) * blockSize * 2L * KvDim * bytesPerElement;
        return bytes;
    }
}
