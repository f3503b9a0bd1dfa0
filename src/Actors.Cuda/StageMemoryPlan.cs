using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Cuda;

/// <summary>
/// The device memory one CUDA stage takes, by purpose (pure arithmetic over the model's shapes):
/// what <see cref="CudaDevice.EstimateStageBytes"/> reports and what the out-of-memory message
/// breaks down. Activation buffers are sized for <c>maxBatchTokens</c> tokens.
/// </summary>
public sealed record StageMemoryPlan
{
    public long WeightBytes { get; init; }
    public long KvBytes { get; init; }
    public long ActivationBytes { get; init; }
    public long GemmScratchBytes { get; init; }
    public long LogitBytes { get; init; }
    public long MetaBytes { get; init; }
    public long CublasWorkspaceBytes { get; init; }
    /// <summary>Rows of logits computed per pass of the head (bounded by CudaDeviceOptions.LogitChunkBytes).</summary>
    public int LogitChunkRows { get; init; }
    /// <summary>f16 elements of the weight scratch for GEMMs (0 without cuBLAS).</summary>
    public long WeightScratchElements { get; init; }
    /// <summary>f16 elements of the activation scratch for GEMMs (0 without cuBLAS).</summary>
    public long InputScratchElements { get; init; }
    /// <summary>Ints of the per-step metadata buffer as first allocated (it grows if a batch needs more).</summary>
    public long MetaInts { get; init; }
    /// <summary>Page-locked host memory (not on the device): staging of hidden states, logits and KV blocks.</summary>
    public long PinnedHostBytes { get; init; }

    public long TotalBytes => WeightBytes + KvBytes + ActivationBytes + GemmScratchBytes + LogitBytes + MetaBytes + CublasWorkspaceBytes;

    public static string Size(long bytes) => bytes >= 1L << 30 ? $"{bytes / (double)(1L << 30):0.00} GiB" : $"{bytes / (double)(1L << 20):0.0} MiB";

    public string Describe() =>
        $"{Size(TotalBytes)}: weights {Size(WeightBytes)}, KV cache {Size(KvBytes)}, activations {Size(ActivationBytes)}, " +
        $"GEMM scratch {Size(GemmScratchBytes + CublasWorkspaceBytes)}, logits {Size(LogitBytes)}, batch metadata {Size(MetaBytes)}";

    /// <summary>The matrices a stage uploads: its layers', plus the embedding (first) and head (last).</summary>
    public static IEnumerable<WeightMatrix> StageMatrices(LlamaModel model, LayerRange layers)
    {
        if (layers.Start == 0) yield return model.TokenEmbedding;
        for (int l = layers.Start; l < layers.End; l++)
            foreach (var m in model.Layers[l].Matrices) yield return m;
        if (layers.End == model.Config.BlockCount && !(layers.Start == 0 && ReferenceEquals(model.Output, model.TokenEmbedding)))
            yield return model.Output;
    }

    public static StageMemoryPlan Compute(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens, CudaDeviceOptions options, bool cublas)
    {
        var c = model.Config;
        if (layers.Start < 0 || layers.End > c.BlockCount || layers.Count <= 0)
            throw new ArgumentOutOfRangeException(nameof(layers), $"{layers} is not a non-empty range of the model's {c.BlockCount} layers");
        if (maxBatchTokens <= 0) throw new ArgumentOutOfRangeException(nameof(maxBatchTokens), $"maxBatchTokens must be positive, got {maxBatchTokens}");
        if (kv.KvHeads != c.HeadCountKv || kv.HeadDim != c.HeadDim)
            throw new ArgumentException($"KV cache shape {kv.KvHeads} heads x {kv.HeadDim} does not match the model's {c.HeadCountKv} x {c.HeadDim}");
        bool isLast = layers.End == c.BlockCount;
        long t = maxBatchTokens;
        int dim = c.EmbeddingLength, qDim = c.QueryDim, kvDim = c.KvDim, ffn = c.FeedForwardLength, vocab = c.VocabSize;

        var matrices = StageMatrices(model, layers).ToList();
        long weights = model.WeightBytes(layers.Start, layers.End, includeEmbedding: layers.Start == 0, includeHead: isLast)
            + (c.Rope.FreqFactors?.Length ?? 0) * 4L;

        long activationFloats = t * (dim + dim + qDim + 2L * kvDim + qDim + 2L * ffn + dim) + (isLast ? t * dim : 0);

        bool gemm = cublas && maxBatchTokens > options.MatvecMaxTokens;
        long weightScratch = 0, inputScratch = 0;
        if (gemm)
        {
            // Matrices that go through GEMMs: the layers' and the head (the embedding table is only gathered).
            var projected = Enumerable.Range(layers.Start, layers.Count).SelectMany(l => model.Layers[l].Matrices)
                .Concat(isLast ? [model.Output] : []).ToList();
            long largest = projected.Where(m => m.Type is not (GgmlType.F32 or GgmlType.F16))
                .Select(m => (long)m.Rows * m.Cols).DefaultIfEmpty(0).Max();
            long widest = projected.Select(m => (long)m.Cols).DefaultIfEmpty(0).Max();
            weightScratch = largest == 0 ? 0 : Math.Max(widest, Math.Min(largest, options.GemmWeightScratchBytes / 2));
            inputScratch = t * Math.Max(dim, Math.Max(qDim, ffn));
        }

        int logitRows = isLast ? (int)Math.Clamp(options.LogitChunkBytes / (4L * vocab), 1, t) : 0;
        int seqs = (int)Math.Min(t, 64);
        long width = (Math.Min(c.ContextLength, kv.SlotCount) + kv.BlockSize - 1) / kv.BlockSize;
        long metaInts = MetaIntsFor(maxBatchTokens, seqs, width);
        long hiddenBytes = 4 * t * dim;

        return new StageMemoryPlan
        {
            WeightBytes = weights,
            KvBytes = kv.TotalBytes(layers.Count),
            ActivationBytes = 4 * activationFloats,
            GemmScratchBytes = 2 * (weightScratch + inputScratch),
            LogitBytes = 4L * logitRows * vocab,
            MetaBytes = 4 * metaInts,
            CublasWorkspaceBytes = gemm ? options.CublasWorkspaceBytes : 0,
            LogitChunkRows = logitRows,
            WeightScratchElements = weightScratch,
            InputScratchElements = inputScratch,
            MetaInts = metaInts,
            PinnedHostBytes = hiddenBytes + Math.Max(hiddenBytes, 4L * logitRows * vocab) + 4 * metaInts
                + kv.BlockBytesPerLayer * layers.Count + options.UploadStagingBytes,
        };
    }

    /// <summary>
    /// Ints of one step's metadata: tokens, positions, slots and logit rows [tokens] each; decode work
    /// (sequence, token) [sequences] each; prefill tiles (sequence, token) [sequences + tokens/16] each;
    /// sequence ends [sequences]; block tables [sequences × width].
    /// </summary>
    public static long MetaIntsFor(int tokens, int sequences, long blockTableWidth) =>
        4L * tokens + 2L * sequences + 2L * (sequences + tokens / 16) + sequences + sequences * blockTableWidth;
}
