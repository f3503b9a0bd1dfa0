using Actors.Cuda.Compilation;
using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Interop.Cuda;

namespace Actors.Cuda.Kernels;

/// <summary>
/// The kernels of kernels/*.cu loaded into one context, with one typed launch method per op. Every
/// method only queues work on the given stream; the caller's thread must have the context current
/// (all callers in this project call <see cref="CudaContext.MakeCurrent"/> at the top of each step).
/// </summary>
public sealed class CudaKernels : IDisposable
{
    private readonly Dictionary<string, CudaModule> _modules = new();
    private readonly Dictionary<string, CudaFunction> _functions = new();

    public CudaContext Context { get; }
    public CompileTarget Target { get; }

    /// <summary>Compiles (or takes from the cache) every kernel file for <paramref name="target"/> and loads it.</summary>
    public CudaKernels(CudaContext context, KernelCompiler compiler, CompileTarget target)
    {
        Context = context;
        Target = target;
        try
        {
            foreach (string file in compiler.Sources.Files.Keys)
            {
                byte[] image = compiler.GetImage(file, target);
                var module = CudaModule.Load(context, image, $"{file} {target}");
                _modules[file] = module;
                foreach (string entry in KernelSources.EntryPoints(compiler.Sources.Files[file]))
                    _functions[entry] = module.Function(entry);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public CudaFunction Function(string name) =>
        _functions.TryGetValue(name, out var f) ? f : throw new KeyNotFoundException($"kernel {name} is not defined by any kernels/*.cu");

    private void Launch<T>(string name, in LaunchConfig config, CudaStream stream, in T args) where T : unmanaged =>
        Function(name).Launch(config, stream, args);

    /// <summary>out[t, :] = dequant(table row ids[t]); also gathers f32 rows (type F32, row bytes 4·dim).</summary>
    public void Embedding(CudaStream stream, GgmlType type, ulong ids, int count, ulong table, long rowBytes, int tableRows, int dim, ulong output) =>
        Launch(KernelNames.Embedding(type), LaunchShapes.Embedding(count, dim), stream, new EmbeddingParams
        {
            Tokens = ids, Table = table, Out = output, RowBytes = rowBytes, NTokens = count, Dim = dim, NRows = tableRows,
        });

    public void RmsNorm(CudaStream stream, ulong x, ulong weight, ulong output, int rows, int dim, float eps) =>
        Launch(KernelNames.RmsNorm, LaunchShapes.RmsNorm(rows), stream, new RmsNormParams
        {
            X = x, Weight = weight, Out = output, NRows = rows, Dim = dim, Eps = eps,
        });

    /// <summary>Rotates q [tokens, heads, headDim] and k [tokens, kvHeads, headDim] in place; freqFactors 0 when absent.</summary>
    public void Rope(CudaStream stream, ulong q, ulong k, ulong positions, ulong freqFactors, int tokens, int heads, int kvHeads, int headDim, RopeParameters rope)
    {
        var (low, high) = rope.ExtFactor != 0 ? rope.CorrectionDims() : (0f, 0f);
        Launch(KernelNames.Rope, LaunchShapes.Rope(tokens, heads, kvHeads), stream, new RopeParams
        {
            Q = q, K = k, Positions = positions, FreqFactors = freqFactors, NTokens = tokens, NHeads = heads, NKvHeads = kvHeads,
            HeadDim = headDim, NRot = rope.Dimensions, FreqBase = rope.FreqBase, FreqScale = rope.FreqScale, ExtFactor = rope.ExtFactor,
            AttnFactor = rope.AttnFactor, CorrLow = low, CorrHigh = high,
        });
    }

    public void KvWrite(CudaStream stream, KvCacheType type, ulong k, ulong v, ulong slots, ulong kCache, ulong vCache, int tokens, int kvDim) =>
        Launch(KernelNames.KvWrite(type), LaunchShapes.KvWrite(tokens), stream, new KvWriteParams
        {
            K = k, V = v, Slots = slots, KCache = kCache, VCache = vCache, NTokens = tokens, KvDim = kvDim,
        });

    /// <summary>Decode attention over <paramref name="p"/>.NWork single-token work items.</summary>
    public void AttentionDecode(CudaStream stream, KvCacheType type, in AttentionParams p) =>
        Launch(KernelNames.AttentionDecode(type), LaunchShapes.AttentionDecode(p.NHeads, p.NWork, p.HeadDim), stream, p);

    /// <summary>Prefill attention over <paramref name="p"/>.NWork tiles of up to 16 tokens.</summary>
    public void AttentionPrefill(CudaStream stream, KvCacheType type, in AttentionParams p) =>
        Launch(KernelNames.AttentionPrefill(type), LaunchShapes.AttentionPrefill(p.NHeads, p.NWork, p.HeadDim), stream, p);

    public void SiluMul(CudaStream stream, ulong gate, ulong up, ulong output, long n) =>
        Launch(KernelNames.SiluMul, LaunchShapes.Elementwise(n), stream, new SiluMulParams { Gate = gate, Up = up, Out = output, N = n });

    public void ResidualAdd(CudaStream stream, ulong x, ulong y, long n) =>
        Launch(KernelNames.ResidualAdd, LaunchShapes.Elementwise(n), stream, new ResidualAddParams { X = x, Y = y, N = n });

    /// <summary>y[t, r] = W[r, :]·x[t, :] for t &lt; tokens, reading W's ggml blocks in place.</summary>
    public void Matvec(CudaStream stream, GgmlType type, ulong w, long rowBytes, int rows, int cols, ulong x, ulong y, int tokens) =>
        Launch(KernelNames.Matvec(type), LaunchShapes.Matvec(rows, tokens), stream, new MatvecParams
        {
            W = w, X = x, Y = y, RowBytes = rowBytes, Rows = rows, Cols = cols, NTokens = tokens,
        });

    /// <summary>Decodes [rows, cols] of <paramref name="type"/> to f16; with F32 it converts activations.</summary>
    public void DequantToF16(CudaStream stream, GgmlType type, ulong src, long rowBytes, int rows, int cols, ulong output) =>
        Launch(KernelNames.DequantToF16(type),
            KernelNames.DecodesInGroups(type) ? LaunchShapes.DequantGroups(rows, cols) : LaunchShapes.Dequant(rows, cols), stream, new DequantParams
        {
            Src = src, Out = output, RowBytes = rowBytes, Rows = rows, Cols = cols,
        });

    public void Argmax(CudaStream stream, ulong logits, int rows, int cols, ulong outIndex, ulong outValue) =>
        Launch(KernelNames.Argmax, LaunchShapes.Sample(rows), stream, new SampleParams
        {
            Logits = logits, OutIndex = outIndex, OutValue = outValue, NRows = rows, NCols = cols, K = 1,
        });

    public void TopK(CudaStream stream, ulong logits, int rows, int cols, int k, ulong outIndex, ulong outValue)
    {
        if (k <= 0 || k > cols) throw new ArgumentOutOfRangeException(nameof(k), $"top-k needs 1 <= k <= {cols}, got {k}");
        Launch(KernelNames.TopK, LaunchShapes.Sample(rows), stream, new SampleParams
        {
            Logits = logits, OutIndex = outIndex, OutValue = outValue, NRows = rows, NCols = cols, K = k,
        });
    }

    public void Dispose()
    {
        _functions.Clear();
        foreach (var m in _modules.Values) m.Dispose();
        _modules.Clear();
    }
}
