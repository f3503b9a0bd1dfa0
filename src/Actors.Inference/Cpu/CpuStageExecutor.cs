using Actors.Inference.Compute;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Cpu.Ops;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu;

/// <summary>
/// Layers [Layers.Start, Layers.End) of a model of any supported architecture on the CPU, with
/// their paged KV cache. The architecture's optional steps (QKV bias, per-head Q/K norm, NeoX RoPE,
/// sliding windows, soft-capping, post-norms, GeGLU) follow llama.cpp's graph for it.
/// Weights are read in place from the model's memory map; all scratch is allocated up front for
/// <c>maxBatchTokens</c> and only grows if a larger batch arrives, so a step allocates nothing.
/// </summary>
public sealed class CpuStageExecutor : IStageExecutor
{
    private readonly LlamaModel _model;
    private readonly LlamaConfig _c;
    private readonly CpuWorkerPool _pool;
    private readonly bool _ownsPool;
    private readonly float[][] _kCache; // per layer of the stage: [slots × kvDim]
    private readonly float[][] _vCache; // per layer of the stage: [slots × kvDim]
    private readonly PreparedActivations?[] _actByType = new PreparedActivations?[64];
    private readonly ParallelMatMul _matmul = new();
    private readonly AttentionWork _attention;
    private readonly TokenRowsWork _rows;
    private readonly ParallelPrepare _prepare = new();
    private readonly TopKRowsWork _topK = new();
    private readonly float _softmaxScale;   // soft_max_ext's scale: 1 where the architecture scales Q instead
    private readonly float _queryScale;     // Q's multiplier before QKᵀ (gemma2/3, phi3); 1 = none
    private readonly LayerAttention[] _layerAttention; // per layer of the stage
    private readonly bool _slidingRope;                // some layer of the stage uses Config.SlidingRope
    private readonly bool _hasSlidingPoolLayers;       // some layer keeps its KV in the separate sliding-window pool

    // Scratch, sized for _capacity tokens.
    private int _capacity;
    private float[] _x = [];      // [T, dim] residual stream
    private float[] _xb = [];     // [T, dim] normed input of a sub-layer
    private float[] _q = [];      // [T, qDim]
    private float[] _k = [];      // [T, kvDim]
    private float[] _v = [];      // [T, kvDim]
    private float[] _att = [];    // [T, qDim] attention output
    private float[] _proj = [];   // [T, dim] output of attn_output / ffn_down
    private float[] _gate = [];   // [T, ffn]
    private float[] _up = [];     // [T, ffn]
    private float[] _cos = [];    // [T, n_rot/2]
    private float[] _sin = [];    // [T, n_rot/2]
    private float[] _cosSliding = []; // [T, n_rot/2] angles of the sliding layers' RoPE, when it differs
    private float[] _sinSliding = []; // [T, n_rot/2]
    private bool[] _gemmOrder = [];      // [T] token t in the order of llama.cpp's repacked gemm (BatchOrder.Gemm)
    private bool[] _sgemmOrder = [];     // [T] token t in the order of its tinyBLAS (BatchOrder.Sgemm)
    private bool[] _headGemmOrder = [];  // [LogitCount] the same for the output head's rows
    private bool[] _headSgemmOrder = [];
    private float[] _logits = []; // [LogitCount, vocab]
    private float[] _headIn = []; // [LogitCount, dim]

    public LayerRange Layers { get; }
    public bool IsFirst => Layers.Start == 0;
    public bool IsLast => Layers.End == _c.BlockCount;
    public int HiddenSize => _c.EmbeddingLength;
    public int VocabSize => _c.VocabSize;
    public KvCacheSpec Kv { get; }
    public int KvBlockBytes { get; }

    /// <summary>Seconds this stage spent repacking weights for the tiled kernels at load (0 when none were).</summary>
    public double RepackSeconds { get; }

    public CpuStageExecutor(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens, CpuWorkerPool pool, bool ownsPool = false)
    {
        _c = model.Config;
        if (layers.Start < 0 || layers.End > _c.BlockCount || layers.Count <= 0)
            throw new ArgumentException($"layer range {layers.Start}..{layers.End} is outside the model's {_c.BlockCount} layers");
        if (kv.KvHeads != _c.HeadCountKv || kv.HeadDim != _c.HeadDim)
            throw new ArgumentException($"KV cache shape {kv.KvHeads}x{kv.HeadDim} does not match the model's {_c.HeadCountKv} kv heads x {_c.HeadDim}");
        if (kv.Type != KvCacheType.F32)
            throw new NotSupportedException($"the CPU backend keeps its KV cache in F32; {kv.Type} was requested");
        _model = model;
        _pool = pool;
        _ownsPool = ownsPool;
        Layers = layers;
        Kv = kv;
        _kCache = new float[layers.Count][];
        _vCache = new float[layers.Count][];
        for (int l = 0; l < layers.Count; l++)
        {
            // A sliding-window layer lives in the sliding pool when there is one (its own, smaller block count).
            long slots = (long)kv.BlocksOf(_c, layers.Start + l) * kv.BlockSize * kv.KvDim;
            if (slots > Array.MaxLength)
                throw new ArgumentException($"a KV pool of {kv.BlocksOf(_c, layers.Start + l)} blocks x {kv.BlockSize} tokens x {kv.KvDim} values exceeds one array; use fewer blocks");
            _kCache[l] = new float[slots];
            _vCache[l] = new float[slots];
        }
        KvBlockBytes = checked((int)(kv.BlockBytesPerLayer * layers.Count));
        _softmaxScale = _c.Traits.ScalesQuery ? 1f : _c.EffectiveAttentionScale;
        _queryScale = _c.Traits.ScalesQuery ? _c.EffectiveAttentionScale : 1f;
        _layerAttention = new LayerAttention[layers.Count];
        for (int l = 0; l < layers.Count; l++) _layerAttention[l] = _c.LayerAttention(layers.Start + l);
        _hasSlidingPoolLayers = kv.HasSlidingPool && _layerAttention.Any(a => a.IsSliding);
        _slidingRope = _c.SlidingRope != null && _layerAttention.Any(a => a.IsSliding);
        _attention = new AttentionWork(this);
        _rows = new TokenRowsWork();
        RepackSeconds = WeightRepacking.RepackStage(model, layers.Start, layers.End, head: layers.End == _c.BlockCount, pool);
        EnsureCapacity(Math.Max(1, maxBatchTokens));
    }

    private void EnsureCapacity(int tokens)
    {
        if (tokens <= _capacity) return;
        _capacity = tokens;
        int dim = _c.EmbeddingLength, q = _c.QueryDim, kvd = _c.KvDim, ffn = _c.FeedForwardLength, half = _c.Rope.Dimensions / 2;
        _x = new float[tokens * dim];
        _xb = new float[tokens * dim];
        _q = new float[tokens * q];
        _k = new float[tokens * kvd];
        _v = new float[tokens * kvd];
        _att = new float[tokens * q];
        _proj = new float[tokens * dim];
        _gate = new float[tokens * ffn];
        _up = new float[tokens * ffn];
        _cos = new float[tokens * half];
        _sin = new float[tokens * half];
        _gemmOrder = new bool[tokens];
        _sgemmOrder = new bool[tokens];
        _headGemmOrder = new bool[tokens];
        _headSgemmOrder = new bool[tokens];
        if (_slidingRope)
        {
            _cosSliding = new float[tokens * half];
            _sinSliding = new float[tokens * half];
        }
        // Measured: a fresh process's first 64-token request faulted ~90 pages more than later ones, in scratch rows
        // no step had written yet. The KV pool is left to fault in as blocks are first used: touching it would
        // commit the whole pool (up to max-blocks, sized from free memory) at start.
        foreach (var a in new[] { _x, _xb, _q, _k, _v, _att, _proj, _gate, _up, _cos, _sin, _cosSliding, _sinSliding })
            PageTouch.Write(a);
    }

    public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
    {
        batch.Validate(Kv, _c.VocabSize);
        int T = batch.TokenCount, dim = _c.EmbeddingLength;
        EnsureCapacity(T);
        int expectedOut = IsLast ? batch.LogitCount * _c.VocabSize : T * dim;
        if (output.Length < expectedOut)
            throw new ArgumentException($"output holds {output.Length} floats, the stage writes {expectedOut}");
        RunLayers(batch, hiddenIn);
        if (IsLast)
        {
            Head(batch);
            _logits.AsSpan(0, expectedOut).CopyTo(output);
        }
        else _x.AsSpan(0, T * dim).CopyTo(output);
    }

    /// <summary>The head's rows are selected in place, in parallel over rows: no copy of the logits leaves the stage.</summary>
    public int MaxLogitTopK => IsLast ? Math.Min(MaxTopK, _c.VocabSize) : 0;

    /// <summary>The largest k offered: the selection inserts into a sorted k, fine for the few tokens a decision needs.</summary>
    private const int MaxTopK = 64;

    public void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values)
    {
        if (!IsLast) throw new InvalidOperationException($"only the last stage has logits; this one runs layers {Layers.Start}..{Layers.End}");
        if (k < 1 || k > MaxLogitTopK) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in 1..{MaxLogitTopK}");
        batch.Validate(Kv, _c.VocabSize);
        int rows = batch.LogitCount;
        if (indices.Length < rows * k || values.Length < rows * k)
            throw new ArgumentException($"indices and values need {rows * k} entries each ({rows} rows x k = {k}); they hold {indices.Length} and {values.Length}");
        EnsureCapacity(batch.TokenCount);
        RunLayers(batch, hiddenIn);
        Head(batch);
        _topK.Run(_pool, _logits, _c.VocabSize, rows, k, indices, values);
    }

    private void RunLayers(StepBatch batch, ReadOnlySpan<float> hiddenIn)
    {
        int T = batch.TokenCount, dim = _c.EmbeddingLength;
        if (IsFirst)
        {
            for (int t = 0; t < T; t++) _model.TokenEmbedding.DequantizeRow(batch.Tokens[t], _x.AsSpan(t * dim, dim));
            if (_c.Traits.ScaleEmbedding) System.Numerics.Tensors.TensorPrimitives.Multiply(_x.AsSpan(0, T * dim), MathF.Sqrt(dim), _x.AsSpan(0, T * dim));
        }
        else
        {
            if (hiddenIn.Length < T * dim) throw new ArgumentException($"hidden input holds {hiddenIn.Length} floats, expected {T * dim}");
            hiddenIn[..(T * dim)].CopyTo(_x);
        }

        int half = _c.Rope.Dimensions / 2;
        for (int t = 0; t < T; t++)
        {
            Rope.Angles(_c.Rope, batch.Positions[t], _cos.AsSpan(t * half, half), _sin.AsSpan(t * half, half));
            if (_slidingRope) Rope.Angles(_c.SlidingRope!, batch.Positions[t], _cosSliding.AsSpan(t * half, half), _sinSliding.AsSpan(t * half, half));
        }

        SetOrders(batch);
        for (int l = Layers.Start; l < Layers.End; l++) Layer(batch, l);
    }

    /// <summary>
    /// Which tokens the matmuls take in llama.cpp's batch orders (<see cref="BatchOrder"/>, from the sequence's
    /// <see cref="StepBatch.BatchStart"/>..<see cref="StepBatch.BatchEnd"/>). The head multiplies only the logit
    /// rows, a batch of their own in llama.cpp: a sequence with one logit row in the step (every generation
    /// step) takes the one-token orders there.
    /// </summary>
    private void SetOrders(StepBatch batch)
    {
        for (int s = 0; s < batch.SequenceCount; s++)
        {
            int start = batch.BatchStart[s], end = batch.BatchEnd[s];
            for (int t = batch.QueryStart[s]; t < batch.QueryStart[s + 1]; t++)
            {
                _gemmOrder[t] = BatchOrder.Gemm(batch.Positions[t], start, end);
                _sgemmOrder[t] = BatchOrder.Sgemm(batch.Positions[t], start, end);
            }
        }
        // A sequence's logit rows are adjacent (its tokens are): it has more than one when a neighbour row is its own.
        for (int i = 0; i < batch.LogitCount; i++)
        {
            int t = batch.LogitTokens[i], s = SequenceOf(batch, t);
            bool several = (i > 0 && SequenceOf(batch, batch.LogitTokens[i - 1]) == s)
                || (i + 1 < batch.LogitCount && SequenceOf(batch, batch.LogitTokens[i + 1]) == s);
            _headGemmOrder[i] = several && _gemmOrder[t];
            _headSgemmOrder[i] = several && _sgemmOrder[t];
        }
    }

    private static int SequenceOf(StepBatch batch, int token)
    {
        int lo = 0, hi = batch.SequenceCount - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (batch.QueryStart[mid] <= token) lo = mid;
            else hi = mid - 1;
        }
        return lo;
    }

    private void Layer(StepBatch batch, int layer)
    {
        var w = _model.Layers[layer];
        int T = batch.TokenCount, dim = _c.EmbeddingLength, kvd = _c.KvDim, ffn = _c.FeedForwardLength;
        int local = layer - Layers.Start;
        var attention = _layerAttention[local];

        // Attention block: xb = norm(x); q,k,v = W·xb (+ bias); per-head norm; rope; cache; attend;
        // x += post_norm(Wo·att).
        _rows.Norm(_pool, _x, _xb, w.AttentionNorm, _c.RmsNormEps, T, dim);
        MatMulShared(T, dim, _xb, false, (w.Query, _q), (w.Key, _k), (w.Value, _v));
        if (w.QueryBias != null)
        {
            AddBias(_q, w.QueryBias, T);
            AddBias(_k, w.KeyBias!, T);
            AddBias(_v, w.ValueBias!, T);
        }
        if (w.QueryNorm != null)
            _rows.HeadNorm(_pool, _q, _k, w.QueryNorm, w.KeyNorm!, _c.RmsNormEps, T, _c.HeadCount, _c.HeadCountKv, _c.HeadDim);
        bool slidingRope = _slidingRope && attention.IsSliding;
        _rows.Rope(_pool, _q, _k, slidingRope ? _cosSliding : _cos, slidingRope ? _sinSliding : _sin, T,
            _c.HeadCount, _c.HeadCountKv, _c.HeadDim, _c.Rope.Dimensions / 2, attention.Rope.Style);
        if (_queryScale != 1f) System.Numerics.Tensors.TensorPrimitives.Multiply(_q.AsSpan(0, T * _c.QueryDim), _queryScale, _q.AsSpan(0, T * _c.QueryDim));
        var kc = _kCache[local];
        var vc = _vCache[local];
        bool slidingPool = Kv.HasSlidingPool && attention.IsSliding;
        var slots = slidingPool ? batch.SlidingSlots : batch.Slots;
        for (int t = 0; t < T; t++)
        {
            int slot = slots[t];
            _k.AsSpan(t * kvd, kvd).CopyTo(kc.AsSpan(slot * kvd, kvd));
            _v.AsSpan(t * kvd, kvd).CopyTo(vc.AsSpan(slot * kvd, kvd));
        }
        _attention.Run(batch, kc, vc, attention.SlidingWindow, slidingPool);
        MatMulShared(T, _c.QueryDim, _att, false, (w.Output, _proj));
        if (w.PostAttentionNorm != null) _rows.Norm(_pool, _proj, _proj, w.PostAttentionNorm, _c.RmsNormEps, T, dim);
        _rows.Add(_pool, _x, _proj, T * dim);

        // Feed-forward block: xb = norm(x); h = act(Wg·xb) ⊙ (Wu·xb); x += post_norm(Wd·h).
        _rows.Norm(_pool, _x, _xb, w.FfnNorm, _c.RmsNormEps, T, dim);
        MatMulShared(T, dim, _xb, false, (w.Gate, _gate), (w.Up, _up));
        if (_c.Traits.Activation == GatedActivation.GeluTanh) _rows.GeGlu(_pool, _gate, _up, T, ffn);
        else _rows.SwiGlu(_pool, _gate, _up, T, ffn);
        MatMulShared(T, ffn, _gate, false, (w.Down, _proj));
        if (w.PostFfnNorm != null) _rows.Norm(_pool, _proj, _proj, w.PostFfnNorm, _c.RmsNormEps, T, dim);
        _rows.Add(_pool, _x, _proj, T * dim);
    }

    /// <summary>_logits[LogitCount, vocab] = the head applied to the final-normed logit rows.</summary>
    private void Head(StepBatch batch)
    {
        int n = batch.LogitCount, dim = _c.EmbeddingLength, vocab = _c.VocabSize;
        if (n == 0) return;
        if (_headIn.Length < n * dim) _headIn = new float[n * dim];
        if (_logits.Length < n * vocab) _logits = new float[n * vocab];
        for (int i = 0; i < n; i++)
            RmsNorm.Apply(_x.AsSpan(batch.LogitTokens[i] * dim, dim), _model.OutputNorm, _c.RmsNormEps, _headIn.AsSpan(i * dim, dim));
        MatMulShared(n, dim, _headIn, true, (_model.Output, _logits));
        if (_c.FinalLogitSoftcap > 0) SoftCap(_logits.AsSpan(0, n * vocab), _c.FinalLogitSoftcap);
    }

    public void ReadNormedHidden(int token, Span<float> destination)
    {
        if (!IsLast) throw new InvalidOperationException($"only the last stage has final hidden states; this one runs layers {Layers.Start}..{Layers.End}");
        int dim = _c.EmbeddingLength;
        if ((uint)token >= (uint)_capacity) throw new ArgumentOutOfRangeException(nameof(token), token, "outside the last batch");
        RmsNorm.Apply(_x.AsSpan(token * dim, dim), _model.OutputNorm, _c.RmsNormEps, destination[..dim]);
    }

    private static void AddBias(float[] x, float[] bias, int tokens)
    {
        int n = bias.Length;
        for (int t = 0; t < tokens; t++)
            System.Numerics.Tensors.TensorPrimitives.Add(x.AsSpan(t * n, n), bias, x.AsSpan(t * n, n));
    }

    /// <summary>x ← tanh(x·(1/cap))·cap, as ggml's scale, tanh (libm's tanhf per value), scale.</summary>
    private static void SoftCap(Span<float> x, float cap)
    {
        float inv = 1f / cap;
        for (int i = 0; i < x.Length; i++) x[i] = MathF.Tanh(x[i] * inv) * cap;
    }

    private void MatMulShared(int tokens, int cols, float[] input, bool head, params ReadOnlySpan<(WeightMatrix W, float[] Y)> jobs)
    {
        // Weights of the same type share one preparation (quantisation) of the input.
        Span<int> prepared = stackalloc int[3];
        int preparedCount = 0;
        _matmul.Clear();
        foreach (var (wm, y) in jobs)
        {
            int type = (int)wm.Type;
            ref var act = ref _actByType[type];
            act ??= new PreparedActivations();
            if (prepared[..preparedCount].IndexOf(type) < 0)
            {
                _prepare.Run(_pool, wm.Type, input, tokens, cols, act);
                // Float weights follow tinyBLAS's batch rule, quantized ones the repacked gemm's.
                bool sgemm = wm.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16;
                act.SetTokenOrder((head ? sgemm ? _headSgemmOrder : _headGemmOrder : sgemm ? _sgemmOrder : _gemmOrder).AsSpan(0, tokens));
                prepared[preparedCount++] = type;
            }
            _matmul.Add(wm, act, y);
        }
        _matmul.Run(_pool, tokens);
    }

    public void ReadKvBlock(int block, Span<byte> destination)
    {
        CheckBlock(block);
        int floats = Kv.BlockSize * Kv.KvDim;
        if (destination.Length != KvBlockBytes) throw new ArgumentException($"KV block buffer is {destination.Length} bytes, expected {KvBlockBytes}");
        var dst = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(destination);
        for (int l = 0; l < Layers.Count; l++)
        {
            _kCache[l].AsSpan(block * floats, floats).CopyTo(dst.Slice((2 * l) * floats, floats));
            _vCache[l].AsSpan(block * floats, floats).CopyTo(dst.Slice((2 * l + 1) * floats, floats));
        }
    }

    public void WriteKvBlock(int block, ReadOnlySpan<byte> source)
    {
        CheckBlock(block);
        int floats = Kv.BlockSize * Kv.KvDim;
        if (source.Length != KvBlockBytes) throw new ArgumentException($"KV block data is {source.Length} bytes, expected {KvBlockBytes}");
        var src = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(source);
        for (int l = 0; l < Layers.Count; l++)
        {
            src.Slice((2 * l) * floats, floats).CopyTo(_kCache[l].AsSpan(block * floats, floats));
            src.Slice((2 * l + 1) * floats, floats).CopyTo(_vCache[l].AsSpan(block * floats, floats));
        }
    }

    /// <summary>Copy-on-write in the main pool: with a sliding-window pool, only the layers that keep their KV there.</summary>
    public void CopyKvBlock(int source, int destination) => CopyBlock(source, destination, sliding: false);

    /// <summary>Copy-on-write in the sliding-window layers' own pool.</summary>
    public void CopySlidingKvBlock(int source, int destination)
    {
        if (!Kv.HasSlidingPool) throw new NotSupportedException("this stage's KV cache has no sliding-window pool");
        CopyBlock(source, destination, sliding: true);
    }

    private void CopyBlock(int source, int destination, bool sliding)
    {
        int blocks = sliding ? Kv.SlidingNumBlocks : Kv.NumBlocks;
        if ((uint)source >= (uint)blocks || (uint)destination >= (uint)blocks)
            throw new ArgumentOutOfRangeException(nameof(source), $"copy {source} -> {destination} is outside the pool of {blocks}");
        int floats = Kv.BlockSize * Kv.KvDim;
        for (int l = 0; l < Layers.Count; l++)
        {
            if ((Kv.HasSlidingPool && _layerAttention[l].IsSliding) != sliding) continue; // the layer lives in the other pool
            _kCache[l].AsSpan(source * floats, floats).CopyTo(_kCache[l].AsSpan(destination * floats, floats));
            _vCache[l].AsSpan(source * floats, floats).CopyTo(_vCache[l].AsSpan(destination * floats, floats));
        }
    }

    private void CheckBlock(int block)
    {
        // Swap and migration move main-pool blocks; with a separate sliding-window pool the scheduler
        // recomputes instead (a main block misses the sliding layers' KV), so a call here is a bug.
        if (_hasSlidingPoolLayers)
            throw new NotSupportedException("KV blocks cannot be swapped or migrated while the sliding-window layers keep their KV in a pool of their own");
        if ((uint)block >= (uint)Kv.NumBlocks) throw new ArgumentOutOfRangeException(nameof(block), $"block {block} is outside the pool of {Kv.NumBlocks}");
    }

    public void Dispose()
    {
        if (_ownsPool) _pool.Dispose();
    }

    /// <summary>Attention over (token, head) pairs in parallel, each query head on its own.</summary>
    private sealed class AttentionWork(CpuStageExecutor owner) : IParallelWork
    {
        [ThreadStatic] private static float[]? t_scores;
        private StepBatch _batch = null!;
        private float[] _kc = null!, _vc = null!;
        private int[] _tokenSequence = [];
        private int _window, _headsPerChunk, _chunksPerToken;
        private bool _slidingPool;

        public void Run(StepBatch batch, float[] kc, float[] vc, int window, bool slidingPool)
        {
            _window = window;
            _slidingPool = slidingPool;
            _batch = batch;
            _kc = kc;
            _vc = vc;
            if (_tokenSequence.Length < batch.TokenCount) _tokenSequence = new int[owner._capacity];
            for (int s = 0; s < batch.SequenceCount; s++)
                for (int t = batch.QueryStart[s]; t < batch.QueryStart[s + 1]; t++) _tokenSequence[t] = s;
            // Prefill: one chunk per (token, KV head), so the query heads that share a KV head read the same rows
            // back to back and the pool hands out fewer, longer chunks. Few tokens: one chunk per head, to balance.
            var c = owner._c;
            _headsPerChunk = batch.TokenCount * c.HeadCountKv >= 8 * owner._pool.ThreadCount ? c.GroupSize : 1;
            _chunksPerToken = c.HeadCount / _headsPerChunk;
            owner._pool.Run(batch.TokenCount * _chunksPerToken, this);
        }

        public void Execute(int index)
        {
            var c = owner._c;
            int t = index / _chunksPerToken, h0 = index % _chunksPerToken * _headsPerChunk;
            int s = _tokenSequence[t];
            int contextLength = _batch.Positions[t] + 1; // causal: a token sees itself and everything before
            int first = _window > 0 ? Math.Max(0, contextLength - _window) : 0; // sliding: only the last _window positions
            int hd = c.HeadDim, h1 = h0 + _headsPerChunk;
            int heads = h1 - h0;
            int need = heads * PagedAttention.ScratchLength(contextLength, hd);
            var scores = t_scores;
            if (scores == null || scores.Length < need) t_scores = scores = new float[Math.Max(need, heads * PagedAttention.ScratchLength(256, hd))];
            // A chunk's heads share one KV head (h0 is a multiple of the chunk size, which divides GroupSize):
            // together they read each V row once per pair; each head's bits are what it gets alone.
            PagedAttention.AttendHeads(heads,
                owner._q.AsSpan(t * c.QueryDim + h0 * hd, heads * hd), _kc, _vc, c.KvDim, (h0 / c.GroupSize) * hd,
                _slidingPool ? _batch.SlidingBlockTable(s) : _batch.BlockTable(s), owner.Kv.BlockSize, first, contextLength, owner._softmaxScale, owner._c.AttentionSoftcap, scores,
                owner._att.AsSpan(t * c.QueryDim + h0 * hd, heads * hd));
        }
    }
}
