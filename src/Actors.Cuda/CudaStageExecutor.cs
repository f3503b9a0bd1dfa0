using Actors.Cuda.Kernels;
using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Interop.Cuda;

namespace Actors.Cuda;

/// <summary>
/// Layers [Start, End) of a Llama model on one CUDA device: weights uploaded once at load (still in
/// their ggml blocks), a paged KV pool per layer, and activation buffers for up to MaxBatchTokens
/// tokens. <see cref="Forward"/> runs one flattened step on the executor's own stream:
///
///   first stage:  x = embed(tokens)                       else x = hiddenIn (via pinned memory)
///   each layer:   xn = rmsnorm(x)·attn_norm;  q,k,v = Wq/Wk/Wv·xn;  rope(q, k);  KV[slots] = k, v
///                 x += Wo·attention(q, KV through block tables);  xn = rmsnorm(x)·ffn_norm
///                 x += Wdown·(silu(Wgate·xn) ⊙ Wup·xn)
///   last stage:   logits = Woutput·(rmsnorm(x[LogitTokens])·output_norm)   else hiddenOut = x
///
/// Projections of at most CudaDeviceOptions.MatvecMaxTokens tokens use the matvec kernels on the
/// ggml blocks; larger ones use cuBLAS GemmEx (weights dequantised to an f16 scratch, activations
/// converted to f16, f32 accumulation and output). All calls must come from one thread at a time
/// (the device actor's); the context is made current at the top of each.
/// </summary>
public sealed class CudaStageExecutor : IStageExecutor
{
    private readonly CudaDevice _device;
    private readonly CudaContext _ctx;
    private readonly CudaKernels _k;
    private readonly CudaStream _stream;
    private readonly LlamaConfig _c;
    private readonly StageMemoryPlan _plan;
    private readonly int _matvecMaxTokens;
    private readonly List<IDisposable> _owned = new();

    private readonly DeviceMatrix? _embedding, _output;
    private readonly DeviceBuffer? _outputNorm, _freqFactors;
    private readonly DeviceLayer[] _layers;
    private readonly DeviceBuffer[] _kCache, _vCache;

    // Activations, [MaxBatchTokens, width] f32 each.
    private readonly DeviceBuffer _x, _xn, _q, _kv, _attn, _gate, _up, _tmp;
    private readonly DeviceBuffer? _xl, _logits, _weightF16, _inputF16;
    private DeviceBuffer _meta;
    private PinnedHostBuffer _hostMeta;
    private readonly PinnedHostBuffer _hostIn, _hostOut, _hostKv;
    private readonly AttentionPlan _attention = new();
    private long _metaCapacityInts;
    private bool _disposed;

    public LayerRange Layers { get; }
    public bool IsFirst { get; }
    public bool IsLast { get; }
    public int HiddenSize => _c.EmbeddingLength;
    public int VocabSize => _c.VocabSize;
    public KvCacheSpec Kv { get; }
    public int MaxBatchTokens { get; }
    public int KvBlockBytes { get; }
    public StageMemoryPlan MemoryPlan => _plan;
    /// <summary>Whether projections above the matvec limit go through cuBLAS.</summary>
    public bool UsesCublas => _inputF16 != null;

    /// <summary>The weight matrices this stage uploads.</summary>
    private static IEnumerable<WeightMatrix> StageMatrices(LlamaModel model, LayerRange layers)
    {
        if (layers.Start == 0) yield return model.TokenEmbedding;
        for (int i = layers.Start; i < layers.End; i++)
        {
            var w = model.Layers[i];
            foreach (var m in new[] { w.Query, w.Key, w.Value, w.Output, w.Gate, w.Up, w.Down }) yield return m;
        }
        if (layers.End == model.Config.BlockCount) yield return model.Output;
    }

    internal CudaStageExecutor(CudaDevice device, LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens, StageMemoryPlan plan)
    {
        _device = device;
        _ctx = device.Context;
        _k = device.Kernels;
        _c = model.Config;
        _plan = plan;
        _matvecMaxTokens = device.Options.MatvecMaxTokens;
        Layers = layers;
        Kv = kv;
        MaxBatchTokens = maxBatchTokens;
        IsFirst = layers.Start == 0;
        IsLast = layers.End == _c.BlockCount;
        KvBlockBytes = checked((int)(kv.BlockBytesPerLayer * layers.Count));
        if (_c.HeadDim > LaunchShapes.MaxHeadDim)
            throw new NotSupportedException($"{model.Name}: head size {_c.HeadDim} is above the CUDA attention kernels' limit of {LaunchShapes.MaxHeadDim}");
        CudaWeightTypes.EnsureSupported(model.Name, StageMatrices(model, layers));

        _ctx.MakeCurrent();
        try
        {
            _stream = Own(CudaStream.Create(_ctx));
            long t = maxBatchTokens;
            int dim = _c.EmbeddingLength;
            DeviceBuffer Floats(long count) => Own(DeviceBuffer.Allocate(_ctx, 4 * Math.Max(1, count)));

            using (var uploader = new WeightUploader(_ctx, _stream, device.Options.UploadStagingBytes))
            {
                DeviceMatrix Matrix(WeightMatrix m) => Own(uploader.Upload(_ctx, m));
                DeviceBuffer Vector(float[] v) => Own(uploader.Upload(_ctx, v));
                if (IsFirst) _embedding = Matrix(model.TokenEmbedding);
                _layers = new DeviceLayer[layers.Count];
                for (int i = 0; i < layers.Count; i++)
                {
                    var w = model.Layers[layers.Start + i];
                    _layers[i] = new DeviceLayer
                    {
                        AttentionNorm = Vector(w.AttentionNorm),
                        FfnNorm = Vector(w.FfnNorm),
                        Query = Matrix(w.Query),
                        Key = Matrix(w.Key),
                        Value = Matrix(w.Value),
                        Output = Matrix(w.Output),
                        Gate = Matrix(w.Gate),
                        Up = Matrix(w.Up),
                        Down = Matrix(w.Down),
                    };
                }
                if (IsLast)
                {
                    _output = IsFirst && ReferenceEquals(model.Output, model.TokenEmbedding) ? _embedding : Matrix(model.Output);
                    _outputNorm = Vector(model.OutputNorm);
                }
                if (_c.Rope.FreqFactors is { } ff) _freqFactors = Vector(ff);
                uploader.Finish();
            }

            long poolBytes = kv.BlockSize * (long)kv.NumBlocks * kv.KvDim * kv.ElementBytes;
            _kCache = new DeviceBuffer[layers.Count];
            _vCache = new DeviceBuffer[layers.Count];
            for (int i = 0; i < layers.Count; i++)
            {
                _kCache[i] = Own(DeviceBuffer.Allocate(_ctx, poolBytes));
                _vCache[i] = Own(DeviceBuffer.Allocate(_ctx, poolBytes));
                _kCache[i].Fill(0, _stream);
                _vCache[i].Fill(0, _stream);
            }

            _x = Floats(t * dim);
            _xn = Floats(t * dim);
            _q = Floats(t * _c.QueryDim);
            _kv = Floats(2 * t * _c.KvDim);
            _attn = Floats(t * _c.QueryDim);
            _gate = Floats(t * _c.FeedForwardLength);
            _up = Floats(t * _c.FeedForwardLength);
            _tmp = Floats(t * dim);
            if (IsLast)
            {
                _xl = Floats(t * dim);
                _logits = Floats((long)plan.LogitChunkRows * VocabSize);
            }
            if (device.Cublas != null && plan.InputScratchElements > 0)
            {
                _inputF16 = Own(DeviceBuffer.Allocate(_ctx, 2 * plan.InputScratchElements));
                if (plan.WeightScratchElements > 0) _weightF16 = Own(DeviceBuffer.Allocate(_ctx, 2 * plan.WeightScratchElements));
            }
            _metaCapacityInts = plan.MetaInts;
            _meta = DeviceBuffer.Allocate(_ctx, 4 * _metaCapacityInts);
            _hostMeta = PinnedHostBuffer.Allocate(_ctx, 4 * _metaCapacityInts);
            _hostIn = Own(PinnedHostBuffer.Allocate(_ctx, 4 * t * dim));
            _hostOut = Own(PinnedHostBuffer.Allocate(_ctx, Math.Max(4 * t * dim, 4L * plan.LogitChunkRows * VocabSize)));
            _hostKv = Own(PinnedHostBuffer.Allocate(_ctx, KvBlockBytes));
            _stream.Synchronize();
        }
        catch
        {
            _meta?.Dispose();
            _hostMeta?.Dispose();
            DisposeOwned();
            throw;
        }
    }

    private void DisposeOwned()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            try
            {
                _owned[i].Dispose();
            }
            catch (CudaException)
            {
                // A context already broken (e.g. by an illegal address) cannot free; keep releasing the rest.
            }
        }
        _owned.Clear();
    }

    private T Own<T>(T resource) where T : IDisposable
    {
        _owned.Add(resource);
        return resource;
    }

    // ---- Forward ------------------------------------------------------------------------------

    public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
    {
        int outLength = IsLast ? batch.LogitCount * VocabSize : batch.TokenCount * HiddenSize;
        if (output.Length < outLength)
            throw new ArgumentException($"output holds {output.Length} floats; this batch writes {outLength}");
        var meta = Run(batch, hiddenIn);
        if (IsLast)
        {
            ComputeLogits(batch, meta, output);
            return;
        }
        int n = batch.TokenCount * HiddenSize;
        _hostOut.CopyFromDevice(_x.Pointer, 0, 4L * n, _stream);
        _stream.Synchronize();
        _hostOut.AsSpan<float>(0, n).CopyTo(output);
    }

    /// <summary>
    /// The topk kernel runs one pass over the row per k; beyond a few dozen a host sort of the logits is cheaper.
    /// The results ([rows, k] ids then values) share the scratch _tmp, [MaxBatchTokens, HiddenSize] floats.
    /// </summary>
    public int MaxLogitTopK => IsLast ? Math.Min(Math.Min(64, VocabSize), HiddenSize / 2) : 0;

    /// <summary>
    /// The last stage's top-k tokens per logit row chosen on the device (k = 1: argmax), best first,
    /// ties to the smaller id; only 8·k bytes per row come back instead of the vocabulary's logits.
    /// <paramref name="indices"/> and <paramref name="values"/> are [LogitCount, k]. A row holding NaN reports its
    /// first NaN in every slot, as the CPU's LogitTopK does, which the runtime rejects as it rejects such logits.
    /// </summary>
    public void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values)
    {
        if (!IsLast) throw new InvalidOperationException($"{Layers} is not the last stage; only the last stage has logits");
        if (k < 1 || k > MaxLogitTopK) throw new ArgumentOutOfRangeException(nameof(k), $"k must be in 1..{MaxLogitTopK}, got {k}");
        int rows = batch.LogitCount;
        if (indices.Length < rows * k || values.Length < rows * k)
            throw new ArgumentException($"indices and values need {rows * k} entries each");
        var meta = Run(batch, hiddenIn);
        if (rows == 0)
        {
            _stream.Synchronize();
            return;
        }
        NormalizedLogitRows(batch, meta);
        // rows ≤ MaxBatchTokens and k ≤ HiddenSize / 2, so 2·rows·k floats fit _tmp (free once the layers ran).
        ulong index = _tmp.Pointer, value = _tmp.Pointer + (ulong)(4L * rows * k);
        int chunk = _plan.LogitChunkRows;
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int n = Math.Min(chunk, rows - r0);
            Project(_xl!.Pointer + (ulong)(4L * r0 * HiddenSize), HiddenSize, n, [_output!], [_logits!.Pointer]);
            ulong at = (ulong)(4L * r0 * k);
            if (k == 1) _k.Argmax(_stream, _logits.Pointer, n, VocabSize, index + at, value + at);
            else _k.TopK(_stream, _logits.Pointer, n, VocabSize, k, index + at, value + at);
        }
        _hostOut.CopyFromDevice(index, 0, 8L * rows * k, _stream);
        _stream.Synchronize();
        _hostOut.AsSpan<int>(0, rows * k).CopyTo(indices);
        _hostOut.AsSpan<float>(4L * rows * k, rows * k).CopyTo(values);
    }

    /// <summary>Validates the batch, uploads its metadata and input, and runs every layer; the result stays in x.</summary>
    private StepMeta Run(StepBatch batch, ReadOnlySpan<float> hiddenIn)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        batch.Validate(Kv, VocabSize);
        int t = batch.TokenCount, dim = HiddenSize;
        if (t > MaxBatchTokens)
            throw new ArgumentException($"the batch has {t} tokens, more than the {MaxBatchTokens} this stage was loaded for");
        if (!IsFirst && hiddenIn.Length < t * dim)
            throw new ArgumentException($"hiddenIn holds {hiddenIn.Length} floats; {t} tokens x {dim} = {t * dim} are needed");

        _ctx.MakeCurrent();
        _device.BindCublas(_stream);
        var meta = UploadMeta(batch);
        if (IsFirst)
        {
            _k.Embedding(_stream, _embedding!.Type, meta.Tokens, t, _embedding.Pointer, _embedding.RowBytes, _embedding.Rows, dim, _x.Pointer);
        }
        else
        {
            hiddenIn[..(t * dim)].CopyTo(_hostIn.AsSpan<float>(0, t * dim));
            _hostIn.CopyToDevice(0, _x.Pointer, 4L * t * dim, _stream);
        }
        for (int i = 0; i < _layers.Length; i++) RunLayer(i, batch, meta);
        return meta;
    }

    /// <summary>Device addresses of the step's metadata (all int arrays inside one buffer).</summary>
    private readonly record struct StepMeta(ulong Tokens, ulong Positions, ulong Slots, ulong LogitRows, ulong DecodeSeq, ulong DecodeToken,
        ulong TileSeq, ulong TileToken, ulong SeqEnd, ulong BlockTables);

    private StepMeta UploadMeta(StepBatch batch)
    {
        _attention.Build(batch);
        int t = batch.TokenCount, s = batch.SequenceCount, width = batch.BlockTableWidth;
        int decodes = _attention.DecodeCount, tiles = _attention.TileCount;
        long needed = 4L * t + 2L * decodes + 2L * tiles + s + (long)s * width;
        if (needed > _metaCapacityInts)
        {
            _meta.Dispose();
            _hostMeta.Dispose();
            _metaCapacityInts = Math.Max(needed, 2 * _metaCapacityInts);
            _meta = DeviceBuffer.Allocate(_ctx, 4 * _metaCapacityInts);
            _hostMeta = PinnedHostBuffer.Allocate(_ctx, 4 * _metaCapacityInts);
        }
        long offset = 0;
        ulong Put(ReadOnlySpan<int> values)
        {
            values.CopyTo(_hostMeta.AsSpan<int>(4 * offset, values.Length));
            ulong address = _meta.Pointer + (ulong)(4 * offset);
            offset += values.Length;
            return address;
        }
        var m = new StepMeta(
            Tokens: Put(batch.Tokens.AsSpan(0, t)),
            Positions: Put(batch.Positions.AsSpan(0, t)),
            Slots: Put(batch.Slots.AsSpan(0, t)),
            LogitRows: Put(batch.LogitTokens.AsSpan(0, batch.LogitCount)),
            DecodeSeq: Put(_attention.DecodeSeq.AsSpan(0, decodes)),
            DecodeToken: Put(_attention.DecodeToken.AsSpan(0, decodes)),
            TileSeq: Put(_attention.TileSeq.AsSpan(0, tiles)),
            TileToken: Put(_attention.TileToken.AsSpan(0, tiles)),
            SeqEnd: Put(_attention.SeqTokenEnd.AsSpan(0, s)),
            BlockTables: Put(batch.BlockTables.AsSpan(0, s * width)));
        _hostMeta.CopyToDevice(0, _meta.Pointer, 4 * offset, _stream);
        return m;
    }

    private void RunLayer(int i, StepBatch batch, in StepMeta meta)
    {
        var w = _layers[i];
        int t = batch.TokenCount, dim = HiddenSize, kvDim = _c.KvDim;
        float eps = _c.RmsNormEps;
        ulong k = _kv.Pointer, v = _kv.Pointer + (ulong)(4L * t * kvDim);

        _k.RmsNorm(_stream, _x.Pointer, w.AttentionNorm.Pointer, _xn.Pointer, t, dim, eps);
        Project(_xn.Pointer, dim, t, [w.Query, w.Key, w.Value], [_q.Pointer, k, v]);
        _k.Rope(_stream, _q.Pointer, k, meta.Positions, _freqFactors?.Pointer ?? 0, t, _c.HeadCount, _c.HeadCountKv, _c.HeadDim, _c.Rope);
        _k.KvWrite(_stream, Kv.Type, k, v, meta.Slots, _kCache[i].Pointer, _vCache[i].Pointer, t, kvDim);
        Attention(i, batch, meta);
        Project(_attn.Pointer, _c.QueryDim, t, [w.Output], [_tmp.Pointer]);
        _k.ResidualAdd(_stream, _x.Pointer, _tmp.Pointer, (long)t * dim);

        _k.RmsNorm(_stream, _x.Pointer, w.FfnNorm.Pointer, _xn.Pointer, t, dim, eps);
        Project(_xn.Pointer, dim, t, [w.Gate, w.Up], [_gate.Pointer, _up.Pointer]);
        _k.SiluMul(_stream, _gate.Pointer, _up.Pointer, _gate.Pointer, (long)t * _c.FeedForwardLength);
        Project(_gate.Pointer, _c.FeedForwardLength, t, [w.Down], [_tmp.Pointer]);
        _k.ResidualAdd(_stream, _x.Pointer, _tmp.Pointer, (long)t * dim);
    }

    private void Attention(int i, StepBatch batch, in StepMeta meta)
    {
        var p = new AttentionParams
        {
            Q = _q.Pointer,
            KCache = _kCache[i].Pointer,
            VCache = _vCache[i].Pointer,
            Out = _attn.Pointer,
            BlockTables = meta.BlockTables,
            Positions = meta.Positions,
            SeqTokenEnd = meta.SeqEnd,
            NHeads = _c.HeadCount,
            NKvHeads = _c.HeadCountKv,
            HeadDim = _c.HeadDim,
            BlockSize = Kv.BlockSize,
            BlockTableWidth = batch.BlockTableWidth,
            Scale = 1f / MathF.Sqrt(_c.HeadDim),
        };
        if (_attention.DecodeCount > 0)
        {
            p.WorkSeq = meta.DecodeSeq;
            p.WorkToken = meta.DecodeToken;
            p.NWork = _attention.DecodeCount;
            _k.AttentionDecode(_stream, Kv.Type, p);
        }
        if (_attention.TileCount > 0)
        {
            p.WorkSeq = meta.TileSeq;
            p.WorkToken = meta.TileToken;
            p.NWork = _attention.TileCount;
            _k.AttentionPrefill(_stream, Kv.Type, p);
        }
    }

    /// <summary>
    /// y_j[tokens, W_j.Rows] = x[tokens, cols] · W_jᵀ for each weight; with cuBLAS and more tokens than
    /// the matvec limit, x is converted to f16 once and shared by every GEMM.
    /// </summary>
    private void Project(ulong x, int cols, int tokens, ReadOnlySpan<DeviceMatrix> weights, ReadOnlySpan<ulong> outputs)
    {
        bool gemm = tokens > _matvecMaxTokens && _inputF16 != null;
        if (!gemm)
        {
            for (int j = 0; j < weights.Length; j++)
            {
                var w = weights[j];
                _k.Matvec(_stream, w.Type, w.Pointer, w.RowBytes, w.Rows, w.Cols, x, outputs[j], tokens);
            }
            return;
        }
        bool needF16 = false;
        foreach (var w in weights) needF16 |= w.Type != GgmlType.F32;
        if (needF16) _k.DequantToF16(_stream, GgmlType.F32, x, 4L * cols, tokens, cols, _inputF16!.Pointer);
        for (int j = 0; j < weights.Length; j++) Gemm(weights[j], x, _inputF16!.Pointer, outputs[j], tokens);
    }

    private void Gemm(DeviceMatrix w, ulong xF32, ulong xF16, ulong y, int tokens)
    {
        var blas = _device.Cublas!;
        IntPtr h = _device.CublasHandle;
        if (w.Type == GgmlType.F32)
        {
            blas.GemmRowMajor(h, tokens, w.Rows, w.Cols, w.Pointer, CudaDataType.R32F, xF32, CudaDataType.R32F, y, CudaDataType.R32F);
            return;
        }
        if (w.Type == GgmlType.F16)
        {
            blas.GemmRowMajor(h, tokens, w.Rows, w.Cols, w.Pointer, CudaDataType.R16F, xF16, CudaDataType.R16F, y, CudaDataType.R32F);
            return;
        }
        // Dequantise W to f16 in row slices that fit the scratch; each slice fills a column slice of y.
        int sliceRows = (int)Math.Clamp(_plan.WeightScratchElements / w.Cols, 1, w.Rows);
        for (int r0 = 0; r0 < w.Rows; r0 += sliceRows)
        {
            int n = Math.Min(sliceRows, w.Rows - r0);
            _k.DequantToF16(_stream, w.Type, w.Pointer + (ulong)(r0 * w.RowBytes), w.RowBytes, n, w.Cols, _weightF16!.Pointer);
            blas.GemmRowMajor(h, tokens, n, w.Cols, _weightF16.Pointer, CudaDataType.R16F, xF16, CudaDataType.R16F,
                y + (ulong)(4L * r0), CudaDataType.R32F, yRowStride: w.Rows);
        }
    }

    /// <summary>xl[r] = rmsnorm(x[LogitTokens[r]])·output_norm.</summary>
    private void NormalizedLogitRows(StepBatch batch, in StepMeta meta)
    {
        int rows = batch.LogitCount, dim = HiddenSize;
        _k.Embedding(_stream, GgmlType.F32, meta.LogitRows, rows, _x.Pointer, 4L * dim, batch.TokenCount, dim, _xl!.Pointer);
        _k.RmsNorm(_stream, _xl.Pointer, _outputNorm!.Pointer, _xl.Pointer, rows, dim, _c.RmsNormEps);
    }

    private void ComputeLogits(StepBatch batch, in StepMeta meta, Span<float> output)
    {
        int rows = batch.LogitCount, dim = HiddenSize, vocab = VocabSize;
        if (rows == 0)
        {
            _stream.Synchronize();
            return;
        }
        NormalizedLogitRows(batch, meta);
        int chunk = _plan.LogitChunkRows;
        for (int r0 = 0; r0 < rows; r0 += chunk)
        {
            int n = Math.Min(chunk, rows - r0);
            Project(_xl!.Pointer + (ulong)(4L * r0 * dim), dim, n, [_output!], [_logits!.Pointer]);
            _hostOut.CopyFromDevice(_logits.Pointer, 0, 4L * n * vocab, _stream);
            _stream.Synchronize();
            _hostOut.AsSpan<float>(0, n * vocab).CopyTo(output.Slice(r0 * vocab, n * vocab));
        }
    }

    // ---- KV blocks ----------------------------------------------------------------------------

    private long PoolBlockBytes => Kv.BlockBytesPerLayer / 2;

    private void CheckBlock(int block, string name)
    {
        if ((uint)block >= (uint)Kv.NumBlocks)
            throw new ArgumentOutOfRangeException(name, $"KV block {block} is outside the pool of {Kv.NumBlocks}");
    }

    /// <summary>Layout: for each of this stage's layers in order, the block's K bytes then its V bytes ([BlockSize, KvHeads, HeadDim] each).</summary>
    public void ReadKvBlock(int block, Span<byte> destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckBlock(block, nameof(block));
        if (destination.Length < KvBlockBytes) throw new ArgumentException($"destination holds {destination.Length} bytes; a KV block is {KvBlockBytes}");
        _ctx.MakeCurrent();
        long b = PoolBlockBytes, at = block * b;
        for (int i = 0; i < _layers.Length; i++)
        {
            _hostKv.CopyFromDevice(_kCache[i].At(at), 2 * i * b, b, _stream);
            _hostKv.CopyFromDevice(_vCache[i].At(at), (2 * i + 1) * b, b, _stream);
        }
        _stream.Synchronize();
        _hostKv.AsSpan<byte>(0, KvBlockBytes).CopyTo(destination);
    }

    public void WriteKvBlock(int block, ReadOnlySpan<byte> source)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckBlock(block, nameof(block));
        if (source.Length < KvBlockBytes) throw new ArgumentException($"source holds {source.Length} bytes; a KV block is {KvBlockBytes}");
        _ctx.MakeCurrent();
        source[..KvBlockBytes].CopyTo(_hostKv.AsSpan<byte>(0, KvBlockBytes));
        long b = PoolBlockBytes, at = block * b;
        for (int i = 0; i < _layers.Length; i++)
        {
            _hostKv.CopyToDevice(2 * i * b, _kCache[i].At(at), b, _stream);
            _hostKv.CopyToDevice((2 * i + 1) * b, _vCache[i].At(at), b, _stream);
        }
        _stream.Synchronize();
    }

    public void CopyKvBlock(int source, int destination)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CheckBlock(source, nameof(source));
        CheckBlock(destination, nameof(destination));
        if (source == destination) return;
        _ctx.MakeCurrent();
        long b = PoolBlockBytes;
        for (int i = 0; i < _layers.Length; i++)
        {
            _kCache[i].CopyFrom(_kCache[i], source * b, destination * b, b, _stream);
            _vCache[i].CopyFrom(_vCache[i], source * b, destination * b, b, _stream);
        }
        _stream.Synchronize();
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _ctx.MakeCurrent();
        try
        {
            _stream.Synchronize();
        }
        finally
        {
            _meta.Dispose();
            _hostMeta.Dispose();
            DisposeOwned();
            _device.Forget(this);
        }
    }
}
