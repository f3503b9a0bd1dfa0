using Actors.Inference.Gguf;

namespace Actors.Inference.Model;

/// <summary>
/// A Llama-family model opened from GGUF: config and weights, each weight a zero-copy view into the
/// memory map. Every tensor's presence, type and shape is checked at load, so a bad file fails here
/// with the tensor's name and the expected shape rather than later inside a kernel.
/// </summary>
public sealed class LlamaModel : IDisposable
{
    public LlamaConfig Config { get; }
    public WeightMatrix TokenEmbedding { get; }   // rows vocab, cols dim
    public float[] OutputNorm { get; }            // [dim]
    public WeightMatrix Output { get; }           // rows vocab, cols dim (token_embd when tied)
    public IReadOnlyList<LlamaLayerWeights> Layers { get; }
    public GgufFile? File { get; }
    public string Name { get; }

    private LlamaModel(string name, GgufFile? file, LlamaConfig config, WeightMatrix embedding, float[] outputNorm,
        WeightMatrix output, IReadOnlyList<LlamaLayerWeights> layers)
    {
        Name = name;
        File = file;
        Config = config;
        TokenEmbedding = embedding;
        OutputNorm = outputNorm;
        Output = output;
        Layers = layers;
    }

    /// <param name="sequenceContext">
    /// The longest sequence the caller will run (llama.cpp's n_ctx per sequence): it picks Phi-3's
    /// long or short RoPE factors. 0 means the model's context_length; a longer one is capped there,
    /// as the runtime caps its max model length.
    /// </param>
    public static LlamaModel Open(string path, int sequenceContext = 0)
    {
        var file = GgufFile.Open(path);
        try
        {
            return FromGguf(file, sequenceContext);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public static LlamaModel FromGguf(GgufFile file, int sequenceContext = 0)
    {
        string name = Path.GetFileName(file.Path);
        float[]? freqFactors = file.FindTensor("rope_freqs.weight") is { } rf ? ReadVector(file, rf, name) : null;
        var c = LlamaConfig.FromGguf(file, freqFactors);
        c = WithPhi3RopeFactors(file, name, c, sequenceContext > 0 ? Math.Min(sequenceContext, c.ContextLength) : c.ContextLength);

        WeightMatrix Matrix(string tensor, int rows, int cols, string meaning)
        {
            var t = file.FindTensor(tensor) ?? throw new ModelFormatException($"{name}: tensor '{tensor}' is missing");
            if (t.Dims.Length != 2 || t.Dims[0] != cols || t.Dims[1] != rows)
                throw new ModelFormatException($"{name}: tensor '{tensor}' has shape {t.ShapeText}, expected [{cols}, {rows}] ({meaning})");
            if (!GgmlTypeInfo.IsSupportedWeightType(t.Type))
                throw new ModelFormatException($"{name}: tensor '{tensor}' has type {t.Type}, which this engine does not support (supported: {GgmlTypeInfo.SupportedWeightTypeList})");
            return new WeightMatrix(tensor, t.Type, rows, cols, new GgufTensorSource(file, t));
        }
        // Rows [first, first + count) of a fused matrix, as a matrix of its own.
        static WeightMatrix Rows(WeightMatrix fused, string part, int first, int count) =>
            new($"{fused.Name}[{part}]", fused.Type, count, fused.Cols, new SliceTensorSource(fused.Source, (long)first * fused.RowBytes));
        float[] Vector(string tensor, int length)
        {
            var t = file.FindTensor(tensor) ?? throw new ModelFormatException($"{name}: tensor '{tensor}' is missing");
            if (t.ElementCount != length || t.Dims.Length != 1)
                throw new ModelFormatException($"{name}: tensor '{tensor}' has shape {t.ShapeText}, expected [{length}]");
            return ReadVector(file, t, name);
        }

        var a = c.Traits;
        int dim = c.EmbeddingLength, q = c.QueryDim, kv = c.KvDim, ffn = c.FeedForwardLength;
        var embedding = Matrix("token_embd.weight", c.VocabSize, dim, "embedding_length x vocab_size");
        var outputNorm = Vector("output_norm.weight", dim);
        var output = file.FindTensor("output.weight") is null ? embedding : Matrix("output.weight", c.VocabSize, dim, "embedding_length x vocab_size");
        // At least six tensors per block (phi3's fused QKV and gate/up; nine elsewhere): a corrupt block_count fails
        // here rather than after allocating for it (found by the GGUF fuzzer).
        const int minTensorsPerBlock = 6;
        if ((long)minTensorsPerBlock * c.BlockCount > file.Tensors.Count)
            throw new ModelFormatException($"{name}: block_count = {c.BlockCount} needs at least {(long)minTensorsPerBlock * c.BlockCount} tensors ({minTensorsPerBlock} per block), but the file has {file.Tensors.Count}");
        var layers = new LlamaLayerWeights[c.BlockCount];
        for (int l = 0; l < c.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            WeightMatrix wq, wk, wv, gate, up;
            // phi3 files carry attn_qkv; llama.cpp also accepts separate q/k/v for it.
            if (a.FusedQkv && file.FindTensor(p + "attn_qkv.weight") != null)
            {
                var qkv = Matrix(p + "attn_qkv.weight", q + 2 * kv, dim, "embedding_length x (head_count + 2*head_count_kv)*head_dim");
                (wq, wk, wv) = (Rows(qkv, "q", 0, q), Rows(qkv, "k", q, kv), Rows(qkv, "v", q + kv, kv));
            }
            else
            {
                wq = Matrix(p + "attn_q.weight", q, dim, "embedding_length x head_count*head_dim");
                wk = Matrix(p + "attn_k.weight", kv, dim, "embedding_length x head_count_kv*head_dim");
                wv = Matrix(p + "attn_v.weight", kv, dim, "embedding_length x head_count_kv*head_dim");
            }
            if (a.FusedGateUp)
            {
                var gateUp = Matrix(p + "ffn_up.weight", 2 * ffn, dim, "embedding_length x 2*feed_forward_length (gate, then up)");
                (gate, up) = (Rows(gateUp, "gate", 0, ffn), Rows(gateUp, "up", ffn, ffn));
            }
            else
            {
                gate = Matrix(p + "ffn_gate.weight", ffn, dim, "embedding_length x feed_forward_length");
                up = Matrix(p + "ffn_up.weight", ffn, dim, "embedding_length x feed_forward_length");
            }
            layers[l] = new LlamaLayerWeights(
                Vector(p + "attn_norm.weight", dim), wq, wk, wv,
                Matrix(p + "attn_output.weight", dim, q, "head_count*head_dim x embedding_length"),
                Vector(p + "ffn_norm.weight", dim), gate, up,
                Matrix(p + "ffn_down.weight", dim, ffn, "feed_forward_length x embedding_length"),
                QueryBias: a.QkvBias ? Vector(p + "attn_q.bias", q) : null,
                KeyBias: a.QkvBias ? Vector(p + "attn_k.bias", kv) : null,
                ValueBias: a.QkvBias ? Vector(p + "attn_v.bias", kv) : null,
                QueryNorm: a.QkNorm ? Vector(p + "attn_q_norm.weight", c.HeadDim) : null,
                KeyNorm: a.QkNorm ? Vector(p + "attn_k_norm.weight", c.HeadDim) : null,
                PostAttentionNorm: a.PostNorms ? Vector(p + "post_attention_norm.weight", dim) : null,
                PostFfnNorm: a.PostNorms ? Vector(p + "post_ffw_norm.weight", dim) : null);
        }
        return new LlamaModel(name, file, c, embedding, outputNorm, output, layers);
    }

    /// <summary>
    /// Phi-3's LongRoPE: `rope_factors_long.weight` and `rope_factors_short.weight` divide the RoPE
    /// frequencies; llama.cpp takes the long ones when the context per sequence exceeds
    /// rope.scaling.original_context_length.
    /// </summary>
    private static LlamaConfig WithPhi3RopeFactors(GgufFile file, string name, LlamaConfig c, int sequenceContext)
    {
        var longT = file.FindTensor("rope_factors_long.weight");
        var shortT = file.FindTensor("rope_factors_short.weight");
        if (longT is null && shortT is null) return c;
        bool useLong = sequenceContext > c.Rope.OriginalContextLength;
        var chosen = useLong ? longT : shortT;
        if (chosen is null)
            throw new ModelFormatException($"{name}: tensor '{(useLong ? "rope_factors_long.weight" : "rope_factors_short.weight")}' is missing (its pair is present)");
        var factors = ReadVector(file, chosen, name);
        c = c with { Rope = c.Rope with { FreqFactors = factors } };
        c.Validate(name);
        return c;
    }

    /// <summary>
    /// A model with the shape of <paramref name="config"/> and no weights (for simulated devices, which
    /// need sizes and types only): reading any weight throws.
    /// </summary>
    public static LlamaModel ShapeOnly(LlamaConfig config, GgmlType weightType, string name)
    {
        var none = new NoWeights(name);
        WeightMatrix M(string tensor, int rows, int cols) => new(tensor, weightType, rows, cols, none);
        int dim = config.EmbeddingLength;
        var layers = new LlamaLayerWeights[config.BlockCount];
        for (int l = 0; l < layers.Length; l++)
        {
            string p = $"blk.{l}.";
            layers[l] = new LlamaLayerWeights(new float[dim],
                M(p + "attn_q.weight", config.QueryDim, dim), M(p + "attn_k.weight", config.KvDim, dim), M(p + "attn_v.weight", config.KvDim, dim),
                M(p + "attn_output.weight", dim, config.QueryDim), new float[dim],
                M(p + "ffn_gate.weight", config.FeedForwardLength, dim), M(p + "ffn_up.weight", config.FeedForwardLength, dim),
                M(p + "ffn_down.weight", dim, config.FeedForwardLength));
        }
        var embedding = M("token_embd.weight", config.VocabSize, dim);
        return new LlamaModel(name, null, config, embedding, new float[dim], M("output.weight", config.VocabSize, dim), layers);
    }

    private sealed class NoWeights(string model) : TensorSource
    {
        public override ReadOnlySpan<byte> Span(long offset, int length) =>
            throw new InvalidOperationException($"{model} is a shape-only model (for simulation); it has no weights to read");
    }

    private static float[] ReadVector(GgufFile file, GgufTensorInfo t, string name)
    {
        if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ModelFormatException($"{name}: tensor '{t.Name}' has type {t.Type}; vectors must be F32, F16 or BF16");
        var values = new float[t.ElementCount];
        Quantization.ReferenceQuantizer.Dequantize(t.Type, file.TensorSpan(t, 0, (int)t.ByteSize), values);
        return values;
    }

    /// <summary>Bytes of the weights of layers [start, end), plus embeddings/head where included.</summary>
    public long WeightBytes(int startLayer, int endLayer, bool includeEmbedding, bool includeHead)
    {
        long bytes = 0;
        for (int l = startLayer; l < endLayer; l++) bytes += Layers[l].ByteSize;
        if (includeEmbedding) bytes += TokenEmbedding.ByteSize;
        if (includeHead) bytes += (ReferenceEquals(Output, TokenEmbedding) && includeEmbedding ? 0 : Output.ByteSize) + 4L * OutputNorm.Length;
        return bytes;
    }

    public long TotalWeightBytes => WeightBytes(0, Layers.Count, true, true);

    public void Dispose() => File?.Dispose();
}
