using LLama;
using LLama.Common;
using LLama.Native;

namespace Actors.Inference.Tests.Support;

/// <summary>
/// llama.cpp through LLamaSharp, configured as the reference: CPU backend, F32 KV cache, flash
/// attention off, logits for every position.
/// </summary>
public sealed class LlamaCpp : IDisposable
{
    private static readonly object InitLock = new();
    private static bool s_initialised;
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public static void EnsureLoaded()
    {
        lock (InitLock)
        {
            if (s_initialised) return;
            // ACTORS_LLAMA_LOG=1 shows llama.cpp's log (e.g. why it refuses a file).
            bool log = Environment.GetEnvironmentVariable("ACTORS_LLAMA_LOG") == "1";
            NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, m) => { if (log) Console.Error.Write(m); });
            NativeApi.llama_empty_call();
            s_initialised = true;
        }
    }

    /// <param name="pooling">Set: an embedding context (llama.cpp pools the final-norm output per sequence).</param>
    public LlamaCpp(string path, int contextSize = 256, int threads = 2, LLamaPoolingType? pooling = null)
    {
        EnsureLoaded();
        var p = new ModelParams(path)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)contextSize,
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            FlashAttention = false,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
        };
        if (pooling is { } type)
        {
            p.Embeddings = true;
            p.PoolingType = type;
        }
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
    }

    public int VocabSize => _context.Vocab.Count;

    /// <summary>Logits of every position of a fresh sequence.</summary>
    public float[][] AllLogits(ReadOnlySpan<int> tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
        var r = _context.NativeHandle.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}");
        var result = new float[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++) result[i] = _context.NativeHandle.GetLogitsIth(i).ToArray();
        return result;
    }

    /// <summary>The pooled embedding of a fresh sequence, as llama.cpp returns it (not normalized); needs a pooling context.</summary>
    public float[] PooledEmbedding(ReadOnlySpan<int> tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
        Check(_context.NativeHandle.Decode(batch));
        return _context.NativeHandle.GetEmbeddingsSeq(LLamaSeqId.Zero).ToArray();
    }

    /// <summary>Greedy continuation: prompt in one batch, then one token per decode.</summary>
    public int[] Greedy(ReadOnlySpan<int> prompt, int count)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++) batch.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
        Check(_context.NativeHandle.Decode(batch));
        var output = new int[count];
        int pos = prompt.Length;
        int logitIndex = prompt.Length - 1;
        for (int n = 0; n < count; n++)
        {
            var logits = _context.NativeHandle.GetLogitsIth(logitIndex);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            output[n] = best;
            batch.Clear();
            batch.Add(best, pos++, LLamaSeqId.Zero, true);
            Check(_context.NativeHandle.Decode(batch));
            logitIndex = 0;
        }
        return output;
    }

    public LLamaToken[] Tokenize(string text, bool addBos, bool special) => _context.NativeHandle.Tokenize(text, addBos, special, System.Text.Encoding.UTF8);

    private static void Check(DecodeResult r)
    {
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}");
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
