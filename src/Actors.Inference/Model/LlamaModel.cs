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

    public static LlamaModel Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            return FromGguf(file);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    public static LlamaModel FromGguf(GgufFile file)
    {
        string name = Path.GetFileName(file.Path);
        float[]? freqFactors = file.FindTensor("rope_freqs.weight") is { } rf ? ReadVector(file, rf, name) : null;
        var c = LlamaConfig.FromGguf(file, freqFactors);

        WeightMatrix Matrix(string tensor, int rows, int cols, string meaning)
        {
            var t = file.FindTensor(tensor) ?? throw new ModelFormatException($"{name}: tensor '{tensor}' is missing");
            if (t.Dims.Length != 2 || t.Dims[0] != cols || t.Dims[1] != rows)
                throw new ModelFormatException($"{name}: tensor '{tensor}' has shape {t.ShapeText}, expected [{cols}, {rows}] ({meaning})");
            if (!GgmlTypeInfo.IsSupportedWeightType(t.Type))
                throw new ModelFormatException($"{name}: tensor '{tensor}' has type {t.Type}, which this engine does not support (supported: {GgmlTypeInfo.SupportedWeightTypeList})");
            return new WeightMatrix(tensor, t.Type, rows, cols, new GgufTensorSource(file, t));
        }
        float[] Vector(string tensor, int length)
        {
            var t = file.FindTensor(tensor) ?? throw new ModelFormatException($"{name}: tensor '{tensor}' is missing");
            if (t.ElementCount != length || t.Dims.Length != 1)
                throw new ModelFormatException($"{name}: tensor '{tensor}' has shape {t.ShapeText}, expected [{length}]");
            return ReadVector(file, t, name);
        }

        int dim = c.EmbeddingLength;
        var embedding = Matrix("token_embd.weight", c.VocabSize, dim, "embedding_length x vocab_size");
        var outputNorm = Vector("output_norm.weight", dim);
        var output = file.FindTensor("output.weight") is null ? embedding : Matrix("output.weight", c.VocabSize, dim, "embedding_length x vocab_size");
        var layers = new LlamaLayerWeights[c.BlockCount];
        for (int l = 0; l < c.BlockCount; l++)
        {
            string p = $"blk.{l}.";
            layers[l] = new LlamaLayerWeights(
                Vector(p + "attn_norm.weight", dim),
                Matrix(p + "attn_q.weight", c.QueryDim, dim, "embedding_length x head_count*head_dim"),
                Matrix(p + "attn_k.weight", c.KvDim, dim, "embedding_length x head_count_kv*head_dim"),
                Matrix(p + "attn_v.weight", c.KvDim, dim, "embedding_length x head_count_kv*head_dim"),
                Matrix(p + "attn_output.weight", dim, c.QueryDim, "head_count*head_dim x embedding_length"),
                Vector(p + "ffn_norm.weight", dim),
                Matrix(p + "ffn_gate.weight", c.FeedForwardLength, dim, "embedding_length x feed_forward_length"),
                Matrix(p + "ffn_up.weight", c.FeedForwardLength, dim, "embedding_length x feed_forward_length"),
                Matrix(p + "ffn_down.weight", dim, c.FeedForwardLength, "feed_forward_length x embedding_length"));
        }
        return new LlamaModel(name, file, c, embedding, outputNorm, output, layers);
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
