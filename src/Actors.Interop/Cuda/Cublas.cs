namespace Actors.Interop.Cuda;

/// <summary>cudaDataType values (library_types.h).</summary>
public enum CudaDataType
{
    R32F = 0,
    R16F = 2,
    R16BF = 14,
}

/// <summary>
/// cuBLAS (libcublas.so.13/12/11, with libcublasLt of the same major loaded first because libcublas
/// needs it), bound at run time. Only what the backend uses: handle lifetime, stream, workspace,
/// math mode, and <c>cublasGemmEx</c>. cuBLAS is column-major; see <see cref="GemmRowMajor"/>.
/// </summary>
public sealed unsafe class Cublas
{
    public const int OpN = 0, OpT = 1;
    public const int ComputeType32F = 68;
    public const int GemmDefault = -1;
    public const int MathDefault = 0;

    private readonly delegate* unmanaged<IntPtr*, int> _create;
    private readonly delegate* unmanaged<IntPtr, int> _destroy;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int> _setStream;
    private readonly delegate* unmanaged<IntPtr, ulong, nuint, int> _setWorkspace;
    private readonly delegate* unmanaged<IntPtr, int, int> _setMathMode;
    private readonly delegate* unmanaged<IntPtr, int*, int> _getVersion;
    private readonly delegate* unmanaged<IntPtr, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int> _gemmEx;
    private readonly delegate* unmanaged<int, byte*> _getStatusString;

    public string LibraryName { get; }
    public int Major { get; }

    private Cublas(NativeLibraryLoader lib, int major)
    {
        LibraryName = lib.Name;
        Major = major;
        _create = (delegate* unmanaged<IntPtr*, int>)lib.Export("cublasCreate_v2");
        _destroy = (delegate* unmanaged<IntPtr, int>)lib.Export("cublasDestroy_v2");
        _setStream = (delegate* unmanaged<IntPtr, IntPtr, int>)lib.Export("cublasSetStream_v2");
        _setWorkspace = (delegate* unmanaged<IntPtr, ulong, nuint, int>)lib.Export("cublasSetWorkspace_v2");
        _setMathMode = (delegate* unmanaged<IntPtr, int, int>)lib.Export("cublasSetMathMode");
        _getVersion = (delegate* unmanaged<IntPtr, int*, int>)lib.Export("cublasGetVersion_v2");
        _gemmEx = (delegate* unmanaged<IntPtr, int, int, int, int, int, void*, ulong, int, int, ulong, int, int, void*, ulong, int, int, int, int, int>)lib.Export("cublasGemmEx");
        _getStatusString = (delegate* unmanaged<int, byte*>)lib.OptionalExport("cublasGetStatusString");
    }

    /// <summary>(cublasLt, cublas) name pairs in search order, newest major first, none above the driver's (pure).</summary>
    public static IReadOnlyList<(string Lt, string Blas, int Major)> CandidateNames(int driverMajor = 0)
    {
        var list = new List<(string, string, int)>();
        foreach (int major in new[] { 13, 12, 11 })
        {
            if (driverMajor > 0 && major > driverMajor) continue;
            list.Add(OperatingSystem.IsWindows()
                ? ($"cublasLt64_{major}.dll", $"cublas64_{major}.dll", major)
                : ($"libcublasLt.so.{major}", $"libcublas.so.{major}", major));
        }
        return list;
    }

    /// <summary>Loads cuBLAS; false with every name tried when none loads.</summary>
    public static bool TryLoad(int driverMajor, out Cublas? cublas, out string error)
    {
        var tried = new List<string>();
        var directories = CudaLibraryLocations.LibraryDirectories();
        foreach (var (lt, blas, major) in CandidateNames(driverMajor))
        {
            tried.Add(blas);
            // By soname first, then from a toolkit directory (cublasLt from the same place, first).
            string[] places = ["", .. directories];
            NativeLibraryLoader? lib = null;
            foreach (string dir in places)
            {
                string Where(string name) => dir.Length == 0 ? name : Path.Combine(dir, name);
                if (NativeLibraryLoader.TryLoad([Where(lt)], out _, out _) && NativeLibraryLoader.TryLoad([Where(blas)], out lib, out _)) break;
                lib = null;
            }
            if (lib == null) continue;
            try
            {
                cublas = new Cublas(lib, major);
                error = "";
                return true;
            }
            catch (CudaException e)
            {
                error = e.Message;
                cublas = null;
                return false;
            }
        }
        cublas = null;
        error = $"cuBLAS not found: none of {string.Join(", ", tried)} (with its cublasLt) could be loaded";
        return false;
    }

    private string? Describe(int code) => _getStatusString == null ? null : NativeLibraryLoader.ReadString(_getStatusString(code));

    private void Check(int code, string call, string? context = null)
    {
        if (code != 0) throw new CudaException(CudaApi.Cublas, call, code, CudaStatusNames.Name(CudaApi.Cublas, code), Describe(code), context: context);
    }

    /// <summary>Creates a handle bound to the context current on this thread.</summary>
    public IntPtr Create()
    {
        IntPtr h;
        Check(_create(&h), "cublasCreate_v2");
        return h;
    }

    public void Destroy(IntPtr handle) => Check(_destroy(handle), "cublasDestroy_v2");
    public void SetStream(IntPtr handle, IntPtr stream) => Check(_setStream(handle, stream), "cublasSetStream_v2");
    public void SetWorkspace(IntPtr handle, ulong workspace, long bytes) => Check(_setWorkspace(handle, workspace, (nuint)bytes), "cublasSetWorkspace_v2");
    public void SetMathMode(IntPtr handle, int mode) => Check(_setMathMode(handle, mode), "cublasSetMathMode");

    public int GetVersion(IntPtr handle)
    {
        int v;
        Check(_getVersion(handle, &v), "cublasGetVersion_v2");
        return v;
    }

    /// <summary>
    /// Column-major C[m,n] = alpha·op(A)·op(B) + beta·C with float alpha/beta and CUBLAS_COMPUTE_32F
    /// (so FP16/BF16 inputs accumulate in FP32).
    /// </summary>
    public void GemmEx(IntPtr handle, int transA, int transB, int m, int n, int k, float alpha,
        ulong a, CudaDataType aType, int lda, ulong b, CudaDataType bType, int ldb, float beta,
        ulong c, CudaDataType cType, int ldc)
    {
        int r = _gemmEx(handle, transA, transB, m, n, k, &alpha, a, (int)aType, lda, b, (int)bType, ldb, &beta, c, (int)cType, ldc,
            ComputeType32F, GemmDefault);
        if (r != 0)
            Check(r, "cublasGemmEx", $"m={m} n={n} k={k} A {aType} lda={lda} B {bType} ldb={ldb} C {cType} ldc={ldc}");
    }

    /// <summary>
    /// Row-major Y[M,N] (+)= X[M,K] · Wᵀ with W stored row-major [N,K] (a linear layer). A row-major
    /// matrix read column-major is its transpose, so this is the column-major call
    /// GemmEx(T, N, m=N, n=M, k=K, A=W, lda=K, B=X, ldb=K, C=Y, ldc=N (or Y's row stride)).
    /// </summary>
    public void GemmRowMajor(IntPtr handle, int tokens, int outFeatures, int inFeatures,
        ulong weight, CudaDataType weightType, ulong x, CudaDataType xType, ulong y, CudaDataType yType, int yRowStride = 0, float beta = 0f)
    {
        var g = GemmMapping.LinearLayer(tokens, outFeatures, inFeatures, yRowStride);
        GemmEx(handle, g.TransA, g.TransB, g.M, g.N, g.K, 1f, weight, weightType, g.Lda, x, xType, g.Ldb, beta, y, yType, g.Ldc);
    }
}

/// <summary>The column-major cuBLAS arguments of a row-major linear layer (pure, tested without a GPU).</summary>
public readonly record struct GemmMapping(int TransA, int TransB, int M, int N, int K, int Lda, int Ldb, int Ldc)
{
    /// <summary>
    /// Y[tokens, outFeatures] = X[tokens, inFeatures] · W[outFeatures, inFeatures]ᵀ, all row-major. Y's rows
    /// are <paramref name="yRowStride"/> elements apart (0: outFeatures), so a slice of W's rows can
    /// fill the matching column slice of a wider Y.
    /// </summary>
    public static GemmMapping LinearLayer(int tokens, int outFeatures, int inFeatures, int yRowStride = 0)
    {
        if (tokens <= 0 || outFeatures <= 0 || inFeatures <= 0)
            throw new ArgumentException($"GEMM shape tokens={tokens} out={outFeatures} in={inFeatures} must be positive");
        if (yRowStride == 0) yRowStride = outFeatures;
        if (yRowStride < outFeatures)
            throw new ArgumentException($"GEMM output row stride {yRowStride} is smaller than its {outFeatures} columns");
        return new GemmMapping(Cublas.OpT, Cublas.OpN, M: outFeatures, N: tokens, K: inFeatures, Lda: inFeatures, Ldb: inFeatures, Ldc: yRowStride);
    }
}
