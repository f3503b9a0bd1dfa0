using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Actors.Benchmarks;

/// <summary>
/// Just enough of ggml's C API (llama.cpp's tensor library, from the LLamaSharp.Backend.Cpu package)
/// to time its CPU mul_mat on the same bytes: a context, 2-D tensors, a graph of mul_mats, and
/// ggml_graph_compute_with_ctx with n threads. Weights are plain CPU tensors, so this measures
/// ggml's vec_dot / llamafile-sgemm paths, not the "repack" buffer type llama.cpp can also use.
/// </summary>
internal static partial class Ggml
{
    private const string Base = "ggml-base", Cpu = "ggml-cpu";

    [StructLayout(LayoutKind.Sequential)]
    private struct InitParams
    {
        public nuint MemSize;
        public IntPtr MemBuffer;
        public byte NoAlloc;
    }

    [DllImport(Base)] private static extern IntPtr ggml_init(InitParams p);
    [DllImport(Base)] public static extern void ggml_free(IntPtr ctx);
    [DllImport(Base)] public static extern void ggml_reset(IntPtr ctx);
    [DllImport(Base)] public static extern IntPtr ggml_new_tensor_2d(IntPtr ctx, int type, long ne0, long ne1);
    [DllImport(Base)] public static extern IntPtr ggml_get_data(IntPtr tensor);
    [DllImport(Base)] public static extern IntPtr ggml_mul_mat(IntPtr ctx, IntPtr a, IntPtr b);
    [DllImport(Base)] public static extern IntPtr ggml_new_graph(IntPtr ctx);
    [DllImport(Base)] public static extern void ggml_build_forward_expand(IntPtr graph, IntPtr tensor);
    [DllImport(Base)] public static extern nuint ggml_quantize_chunk(int type, float[] src, byte[] dst, long start, long nrows, long nPerRow, IntPtr imatrix);
    [DllImport(Cpu)] public static extern int ggml_graph_compute_with_ctx(IntPtr ctx, IntPtr graph, int threads);
    [DllImport(Cpu)] private static extern void ggml_cpu_init();

    private static bool _loaded;
    private static string? _error;

    /// <summary>Loads the AVX-512 (else AVX2) build shipped next to the benchmark; false with a reason if absent.</summary>
    public static bool TryLoad(out string? error)
    {
        if (_loaded || _error != null) { error = _error; return _loaded; }
        string flavour = Avx512BW.IsSupported ? "avx512" : "avx2";
        string dir = Path.Combine(AppContext.BaseDirectory, "ggml", flavour);
        try
        {
            var baseLib = NativeLibrary.Load(Path.Combine(dir, "libggml-base.so"));
            var cpuLib = NativeLibrary.Load(Path.Combine(dir, "libggml-cpu.so"));
            NativeLibrary.SetDllImportResolver(Assembly.GetExecutingAssembly(), (name, _, _) =>
                name == Base ? baseLib : name == Cpu ? cpuLib : IntPtr.Zero);
            ggml_cpu_init();
            _loaded = true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            _error = $"ggml not available ({e.Message})";
        }
        error = _error;
        return _loaded;
    }

    public static IntPtr Init(long bytes) => ggml_init(new InitParams { MemSize = (nuint)bytes, MemBuffer = IntPtr.Zero, NoAlloc = 0 });

    public static void Write(IntPtr tensor, byte[] src, int offset, int length) => Marshal.Copy(src, offset, ggml_get_data(tensor), length);

    public static void Write(IntPtr tensor, float[] data) => Marshal.Copy(data, 0, ggml_get_data(tensor), data.Length);

    public static float[] ReadFloats(IntPtr tensor, int n)
    {
        var r = new float[n];
        Marshal.Copy(ggml_get_data(tensor), r, 0, n);
        return r;
    }
}
