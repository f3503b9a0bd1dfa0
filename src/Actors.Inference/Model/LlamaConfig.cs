using Actors.Inference.Gguf;

namespace Actors.Inference.Model;

/// <summary>
/// Hyper-parameters of a Llama-family model (Llama 2/3, Mistral-style grouped-query attention),
/// read from GGUF metadata under the `{arch}.` prefix and validated for consistency.
/// </summary>
public sealed record LlamaConfig
{
    public static readonly IReadOnlySet<string> SupportedArchitectures = new HashSet<string> { "llama", "mistral" };

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

    public int QueryDim => HeadCount * HeadDim;
    public int KvDim => HeadCountKv * HeadDim;
    public int GroupSize => HeadCount / HeadCountKv;

    public static LlamaConfig FromGguf(GgufFile file, float[]? ropeFreqFactors = null)
    {
        string name = Path.GetFileName(file.Path);
        string arch = file.GetString("general.architecture")
            ?? throw new ModelFormatException($"{name}: metadata 'general.architecture' is missing");
        if (!SupportedArchitectures.Contains(arch))
            throw new ModelFormatException(
                $"{name}: architecture '{arch}' is not supported (supported: {string.Join(", ", SupportedArchitectures)})");

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

        int dim = Req("embedding_length");
        int layers = Req("block_count");
        int heads = Req("attention.head_count");
        int kvHeads = Opt("attention.head_count_kv", heads);
        int headDim = Opt("attention.key_length", dim % heads == 0 ? dim / heads : 0);
        if (headDim == 0) throw new ModelFormatException($"{name}: embedding_length {dim} is not divisible by head_count {heads} and attention.key_length is absent");
        int valueDim = Opt("attention.value_length", headDim);
        if (valueDim != headDim) throw new ModelFormatException($"{name}: attention.value_length {valueDim} differs from key_length {headDim}, which llama models do not do");
        int ffn = Req("feed_forward_length");
        int ctx = Req("context_length");
        var embd = file.FindTensor("token_embd.weight") ?? throw new ModelFormatException($"{name}: tensor 'token_embd.weight' is missing");
        int vocab = file.GetInt($"{arch}.vocab_size") is long vs
            ? vs is > 0 and <= int.MaxValue ? (int)vs : throw new ModelFormatException($"{name}: metadata '{arch}.vocab_size' = {vs} is out of range")
            : file.GetArray<string>("tokenizer.ggml.tokens")?.Length ?? (int)embd.RowCount;
        float eps = (float)(file.GetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5);
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
        if (scaling == RopeScalingType.None) freqScale = factor == 0 ? 1f : freqScale;
        int origCtx = Opt("rope.scaling.original_context_length", ctx);
        float attnFactor = (float)(file.GetFloat($"{arch}.rope.scaling.attn_factor") ?? 1.0);

        var config = new LlamaConfig
        {
            Architecture = arch,
            EmbeddingLength = dim,
            BlockCount = layers,
            HeadCount = heads,
            HeadCountKv = kvHeads,
            HeadDim = headDim,
            FeedForwardLength = ffn,
            VocabSize = vocab,
            ContextLength = ctx,
            RmsNormEps = eps,
            Rope = new RopeParameters(ropeDim, freqBase, scaling, freqScale, origCtx,
                ExtFactor: scaling == RopeScalingType.Yarn ? 1f : 0f, AttnFactor: attnFactor,
                BetaFast: 32f, BetaSlow: 1f, FreqFactors: ropeFreqFactors),
        };
        config.Validate(name);
        return config;
    }

    /// <summary>Checks the relations between the numbers; the error names the offending values.</summary>
    public void Validate(string source = "model")
    {
        if (HeadCountKv > HeadCount || HeadCount % HeadCountKv != 0)
            throw new ModelFormatException($"{source}: head_count {HeadCount} is not a multiple of head_count_kv {HeadCountKv}");
        if (Rope.Dimensions > HeadDim || Rope.Dimensions % 2 != 0 || Rope.Dimensions <= 0)
            throw new ModelFormatException($"{source}: rope.dimension_count {Rope.Dimensions} must be even and at most the head size {HeadDim}");
        if (Rope.FreqFactors is { } ff && ff.Length != Rope.Dimensions / 2)
            throw new ModelFormatException($"{source}: rope_freqs.weight has {ff.Length} values, expected rope.dimension_count/2 = {Rope.Dimensions / 2}");
        if (VocabSize <= 0) throw new ModelFormatException($"{source}: vocabulary size {VocabSize} is not positive");
    }

    /// <summary>Bytes of KV cache per token (K and V, all layers) at the given bytes per element.</summary>
    public long KvBytesPerToken(int bytesPerElement = 4) => 2L * BlockCount * KvDim * bytesPerElement;
}
