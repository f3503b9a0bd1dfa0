using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Tests.Support;

/// <summary>
/// Just enough of ggml's C API (llama.cpp's tensor library, the build LLamaSharp.Backend.Cpu ships and
/// <see cref="LlamaCpp"/> runs) to compute a small graph of llama.cpp's own ops on given inputs: the
/// reference for single operations such as attention, bit for bit.
/// </summary>
public sealed class GgmlGraph : IDisposable
{
    public const int F32 = 0, I32 = 26;

    /// <summary>Whether the build loaded is ggml's AVX-512 one, whose float orders the engine reproduces (else its AVX2 build).</summary>
    public static bool IsAvx512Build => Avx512BW.IsSupported;

    [StructLayout(LayoutKind.Sequential)]
    private struct InitParams
    {
        public nuint MemSize;
        public IntPtr MemBuffer;
        public byte NoAlloc;
    }

    private delegate IntPtr InitFn(InitParams p);
    private delegate void FreeFn(IntPtr ctx);
    private delegate IntPtr NewTensor3Fn(IntPtr ctx, int type, long ne0, long ne1, long ne2);
    private delegate IntPtr NewTensor1Fn(IntPtr ctx, int type, long ne0);
    private delegate IntPtr RopeExtFn(IntPtr ctx, IntPtr a, IntPtr positions, IntPtr freqFactors, int nDims, int mode, int nCtxOrig,
        float freqBase, float freqScale, float extFactor, float attnFactor, float betaFast, float betaSlow);
    private delegate IntPtr DataFn(IntPtr t);
    private delegate IntPtr BinaryFn(IntPtr ctx, IntPtr a, IntPtr b);
    private delegate IntPtr UnaryFn(IntPtr ctx, IntPtr a);
    private delegate IntPtr ScaleFn(IntPtr ctx, IntPtr a, float s);
    private delegate IntPtr PermuteFn(IntPtr ctx, IntPtr a, int a0, int a1, int a2, int a3);
    private delegate IntPtr SoftMaxExtFn(IntPtr ctx, IntPtr a, IntPtr mask, float scale, float maxBias);
    private delegate IntPtr NewGraphFn(IntPtr ctx);
    private delegate void ExpandFn(IntPtr graph, IntPtr t);
    private delegate int ComputeFn(IntPtr ctx, IntPtr graph, int threads);

    private static readonly Lazy<Api> s_api = new(Api.Load);

    private readonly Api _api;
    private readonly IntPtr _ctx;

    public GgmlGraph(long bytes)
    {
        _api = s_api.Value;
        _ctx = _api.Init(new InitParams { MemSize = (nuint)bytes, MemBuffer = IntPtr.Zero, NoAlloc = 0 });
        if (_ctx == IntPtr.Zero) throw new InvalidOperationException($"ggml_init of {bytes} bytes failed");
    }

    public IntPtr Tensor3(long ne0, long ne1, long ne2, float[] values)
    {
        var t = _api.NewTensor3(_ctx, F32, ne0, ne1, ne2);
        if (values.Length != ne0 * ne1 * ne2) throw new ArgumentException($"{values.Length} values for a {ne0}x{ne1}x{ne2} tensor");
        Marshal.Copy(values, 0, _api.Data(t), values.Length);
        return t;
    }

    /// <summary>A 1-D F32 tensor holding <paramref name="values"/>.</summary>
    public IntPtr Tensor1(float[] values)
    {
        var t = _api.NewTensor1(_ctx, F32, values.Length);
        Marshal.Copy(values, 0, _api.Data(t), values.Length);
        return t;
    }

    /// <summary>A 1-D I32 tensor holding <paramref name="values"/> (positions).</summary>
    public IntPtr Int32Tensor(int[] values)
    {
        var t = _api.NewTensor1(_ctx, I32, values.Length);
        Marshal.Copy(values, 0, _api.Data(t), values.Length);
        return t;
    }

    public IntPtr RopeExt(IntPtr a, IntPtr positions, IntPtr freqFactors, int nDims, int mode, int nCtxOrig,
        float freqBase, float freqScale, float extFactor, float attnFactor, float betaFast, float betaSlow) =>
        _api.RopeExt(_ctx, a, positions, freqFactors, nDims, mode, nCtxOrig, freqBase, freqScale, extFactor, attnFactor, betaFast, betaSlow);

    public IntPtr MulMat(IntPtr a, IntPtr b) => _api.MulMat(_ctx, a, b);
    public IntPtr Permute(IntPtr a, int a0, int a1, int a2, int a3) => _api.Permute(_ctx, a, a0, a1, a2, a3);
    public IntPtr Scale(IntPtr a, float s) => _api.Scale(_ctx, a, s);
    public IntPtr Tanh(IntPtr a) => _api.Tanh(_ctx, a);
    public IntPtr Gelu(IntPtr a) => _api.Gelu(_ctx, a);
    public IntPtr SoftMaxExt(IntPtr a, IntPtr mask, float scale) => _api.SoftMaxExt(_ctx, a, mask, scale, 0f);

    /// <summary>Computes <paramref name="result"/> and returns its first <paramref name="count"/> floats.</summary>
    public float[] Compute(IntPtr result, int count, int threads = 2)
    {
        var graph = _api.NewGraph(_ctx);
        _api.Expand(graph, result);
        int status = _api.Compute(_ctx, graph, threads);
        if (status != 0) throw new InvalidOperationException($"ggml_graph_compute_with_ctx returned {status}");
        var r = new float[count];
        Marshal.Copy(_api.Data(result), r, 0, count);
        return r;
    }

    public void Dispose() => _api.Free(_ctx);

    private sealed class Api
    {
        public required InitFn Init;
        public required FreeFn Free;
        public required NewTensor3Fn NewTensor3;
        public required NewTensor1Fn NewTensor1;
        public required RopeExtFn RopeExt;
        public required DataFn Data;
        public required BinaryFn MulMat;
        public required UnaryFn Tanh;
        public required UnaryFn Gelu;
        public required ScaleFn Scale;
        public required PermuteFn Permute;
        public required SoftMaxExtFn SoftMaxExt;
        public required NewGraphFn NewGraph;
        public required ExpandFn Expand;
        public required ComputeFn Compute;

        /// <summary>The same libraries LLamaSharp loaded for <see cref="LlamaCpp"/> (its AVX-512 build on this CPU).</summary>
        public static Api Load()
        {
            LlamaCpp.EnsureLoaded();
            string flavour = IsAvx512Build ? "avx512" : "avx2";
            string dir = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", flavour);
            var b = NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
            var c = NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));
            T F<T>(IntPtr lib, string name) where T : Delegate => Marshal.GetDelegateForFunctionPointer<T>(NativeLibrary.GetExport(lib, name));
            return new Api
            {
                Init = F<InitFn>(b, "ggml_init"),
                Free = F<FreeFn>(b, "ggml_free"),
                NewTensor3 = F<NewTensor3Fn>(b, "ggml_new_tensor_3d"),
                NewTensor1 = F<NewTensor1Fn>(b, "ggml_new_tensor_1d"),
                RopeExt = F<RopeExtFn>(b, "ggml_rope_ext"),
                Data = F<DataFn>(b, "ggml_get_data"),
                MulMat = F<BinaryFn>(b, "ggml_mul_mat"),
                Tanh = F<UnaryFn>(b, "ggml_tanh"),
                Gelu = F<UnaryFn>(b, "ggml_gelu"),
                Scale = F<ScaleFn>(b, "ggml_scale"),
                Permute = F<PermuteFn>(b, "ggml_permute"),
                SoftMaxExt = F<SoftMaxExtFn>(b, "ggml_soft_max_ext"),
                NewGraph = F<NewGraphFn>(b, "ggml_new_graph"),
                Expand = F<ExpandFn>(b, "ggml_build_forward_expand"),
                Compute = F<ComputeFn>(c, "ggml_graph_compute_with_ctx"),
            };
        }
    }
}
