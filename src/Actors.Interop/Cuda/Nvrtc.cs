using System.Text;

namespace Actors.Interop.Cuda;

/// <summary>What one NVRTC compilation produced.</summary>
public sealed record NvrtcOutput(byte[] Cubin, byte[] Ptx, string Log);

/// <summary>
/// NVRTC, the run-time CUDA C++ compiler, bound at run time. It needs no GPU and no driver. Library
/// search order: $ACTORS_NVRTC_PATH (a full path; the libnvrtc-builtins next to it is loaded first,
/// because libnvrtc finds its builtins only by soname), then libnvrtc.so.13, .12, libnvrtc.so.11.2
/// and libnvrtc.so (newest first; with a known driver major, majors above it are skipped).
/// Compilations are independent and may run on several threads.
/// </summary>
public sealed unsafe class Nvrtc
{
    public const string PathVariable = "ACTORS_NVRTC_PATH";

    private readonly delegate* unmanaged<int*, int*, int> _version;
    private readonly delegate* unmanaged<int*, int> _getNumSupportedArchs;
    private readonly delegate* unmanaged<int*, int> _getSupportedArchs;
    private readonly delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int> _createProgram;
    private readonly delegate* unmanaged<IntPtr, int, byte**, int> _compileProgram;
    private readonly delegate* unmanaged<IntPtr, nuint*, int> _getProgramLogSize;
    private readonly delegate* unmanaged<IntPtr, byte*, int> _getProgramLog;
    private readonly delegate* unmanaged<IntPtr, nuint*, int> _getPtxSize;
    private readonly delegate* unmanaged<IntPtr, byte*, int> _getPtx;
    private readonly delegate* unmanaged<IntPtr, nuint*, int> _getCubinSize;
    private readonly delegate* unmanaged<IntPtr, byte*, int> _getCubin;
    private readonly delegate* unmanaged<IntPtr*, int> _destroyProgram;
    private readonly delegate* unmanaged<int, byte*> _getErrorString;

    public string LibraryName { get; }
    public int Major { get; }
    public int Minor { get; }
    /// <summary>The real architectures this NVRTC can emit CUBIN for (e.g. 52, 60, …, 86, 89, 90).</summary>
    public IReadOnlyList<int> SupportedArchs { get; }
    public string Version => $"{Major}.{Minor}";

    private Nvrtc(NativeLibraryLoader lib)
    {
        LibraryName = lib.Name;
        _version = (delegate* unmanaged<int*, int*, int>)lib.Export("nvrtcVersion");
        _getNumSupportedArchs = (delegate* unmanaged<int*, int>)lib.OptionalExport("nvrtcGetNumSupportedArchs");
        _getSupportedArchs = (delegate* unmanaged<int*, int>)lib.OptionalExport("nvrtcGetSupportedArchs");
        _createProgram = (delegate* unmanaged<IntPtr*, byte*, byte*, int, byte**, byte**, int>)lib.Export("nvrtcCreateProgram");
        _compileProgram = (delegate* unmanaged<IntPtr, int, byte**, int>)lib.Export("nvrtcCompileProgram");
        _getProgramLogSize = (delegate* unmanaged<IntPtr, nuint*, int>)lib.Export("nvrtcGetProgramLogSize");
        _getProgramLog = (delegate* unmanaged<IntPtr, byte*, int>)lib.Export("nvrtcGetProgramLog");
        _getPtxSize = (delegate* unmanaged<IntPtr, nuint*, int>)lib.Export("nvrtcGetPTXSize");
        _getPtx = (delegate* unmanaged<IntPtr, byte*, int>)lib.Export("nvrtcGetPTX");
        _getCubinSize = (delegate* unmanaged<IntPtr, nuint*, int>)lib.Export("nvrtcGetCUBINSize");
        _getCubin = (delegate* unmanaged<IntPtr, byte*, int>)lib.Export("nvrtcGetCUBIN");
        _destroyProgram = (delegate* unmanaged<IntPtr*, int>)lib.Export("nvrtcDestroyProgram");
        _getErrorString = (delegate* unmanaged<int, byte*>)lib.Export("nvrtcGetErrorString");

        int major, minor;
        Check(_version(&major, &minor), "nvrtcVersion");
        Major = major;
        Minor = minor;
        SupportedArchs = ReadSupportedArchs();
    }

    private int[] ReadSupportedArchs()
    {
        if (_getNumSupportedArchs == null || _getSupportedArchs == null) return [];
        int n;
        Check(_getNumSupportedArchs(&n), "nvrtcGetNumSupportedArchs");
        var archs = new int[n];
        fixed (int* p = archs) Check(_getSupportedArchs(p), "nvrtcGetSupportedArchs");
        return archs;
    }

    /// <summary>
    /// Candidate library names in search order (pure; see the class summary): the override, then each
    /// soname through the loader's search path, then the same sonames inside
    /// <paramref name="toolkitDirectories"/> (a toolkit's lib64 is often not on the loader path).
    /// </summary>
    public static IReadOnlyList<string> CandidateNames(string? overridePath, int driverMajor = 0, IReadOnlyList<string>? toolkitDirectories = null)
    {
        var names = new List<string>();
        if (!string.IsNullOrWhiteSpace(overridePath)) names.Add(overridePath);
        bool windows = OperatingSystem.IsWindows();
        var sonames = new List<string>();
        foreach (int major in new[] { 13, 12, 11 })
        {
            if (driverMajor > 0 && major > driverMajor) continue;
            if (windows) sonames.Add(major == 11 ? "nvrtc64_112_0.dll" : $"nvrtc64_{major}0_0.dll");
            else sonames.Add(major == 11 ? "libnvrtc.so.11.2" : $"libnvrtc.so.{major}");
        }
        if (!windows) sonames.Add("libnvrtc.so");
        names.AddRange(sonames);
        foreach (string dir in toolkitDirectories ?? [])
            names.AddRange(sonames.Select(n => Path.Combine(dir, n)));
        return names;
    }

    private static readonly object Gate = new();
    private static Nvrtc? _shared;
    private static string? _sharedError;

    /// <summary>Loads NVRTC once per process; false with the reason (every name tried) when absent.</summary>
    public static bool TryLoad(out Nvrtc? nvrtc, out string error, int driverMajor = 0)
    {
        lock (Gate)
        {
            if (_shared == null && _sharedError == null)
            {
                string? overridePath = Environment.GetEnvironmentVariable(PathVariable);
                var candidates = CandidateNames(overridePath, driverMajor, CudaLibraryLocations.LibraryDirectories());
                if (NativeLibraryLoader.TryLoad(candidates, out var lib, out string loadError, beforeLoad: PreloadBuiltins))
                {
                    try
                    {
                        _shared = new Nvrtc(lib!);
                    }
                    catch (CudaException e)
                    {
                        _sharedError = e.Message;
                    }
                }
                else
                {
                    _sharedError = $"NVRTC not found: {loadError}. Install it (Debian: tools/install-nvrtc.sh) or set {PathVariable} to the full path of libnvrtc";
                }
            }
            nvrtc = _shared;
            error = _sharedError ?? "";
            return nvrtc != null;
        }
    }

    /// <summary>The process-wide NVRTC; throws a <see cref="CudaException"/> saying what was tried when absent.</summary>
    public static Nvrtc Load(int driverMajor = 0) =>
        TryLoad(out var nvrtc, out string error, driverMajor) ? nvrtc! : throw new CudaException(error);

    /// <summary>For a full path, loads the libnvrtc-builtins beside it first (libnvrtc finds it only by soname).</summary>
    private static void PreloadBuiltins(string nvrtcPath)
    {
        string? dir = Path.GetDirectoryName(nvrtcPath);
        if (string.IsNullOrEmpty(dir) || !Directory.Exists(dir)) return;
        string pattern = OperatingSystem.IsWindows() ? "nvrtc-builtins64_*.dll" : "libnvrtc-builtins.so.*";
        foreach (string candidate in Directory.GetFiles(dir, pattern).OrderBy(f => f.Length))
            if (System.Runtime.InteropServices.NativeLibrary.TryLoad(candidate, out _)) return;
    }

    public string ErrorName(int code)
    {
        byte* text = _getErrorString(code);
        return NativeLibraryLoader.ReadString(text) ?? CudaStatusNames.Name(CudaApi.Nvrtc, code);
    }

    private void Check(int code, string call, string? log = null, string? context = null)
    {
        if (code != 0)
        {
            string name = code >= 0 && code < 12 ? CudaStatusNames.Name(CudaApi.Nvrtc, code) : ErrorName(code);
            throw new CudaException(CudaApi.Nvrtc, call, code, name, null, log, context);
        }
    }

    /// <summary>
    /// Compiles <paramref name="source"/> with in-memory headers (include name → text). For an
    /// `sm_XX` architecture the CUBIN is returned (and the PTX); for `compute_XX` only PTX (CUBIN
    /// empty). A failure throws with NVRTC's log, e.g. "rmsnorm.cu(6): error: expected a ";"".
    /// </summary>
    public NvrtcOutput Compile(string source, string name, IReadOnlyDictionary<string, string> headers, IReadOnlyList<string> options)
    {
        var pins = new List<IntPtr>();
        try
        {
            byte* Utf8(string s)
            {
                IntPtr p = System.Runtime.InteropServices.Marshal.StringToCoTaskMemUTF8(s);
                pins.Add(p);
                return (byte*)p;
            }
            var headerNames = headers.Keys.ToArray();
            byte** headerTexts = stackalloc byte*[Math.Max(1, headerNames.Length)];
            byte** includeNames = stackalloc byte*[Math.Max(1, headerNames.Length)];
            for (int i = 0; i < headerNames.Length; i++)
            {
                headerTexts[i] = Utf8(headers[headerNames[i]]);
                includeNames[i] = Utf8(headerNames[i]);
            }
            byte** optionTexts = stackalloc byte*[Math.Max(1, options.Count)];
            for (int i = 0; i < options.Count; i++) optionTexts[i] = Utf8(options[i]);

            IntPtr program;
            Check(_createProgram(&program, Utf8(source), Utf8(name), headerNames.Length,
                headerNames.Length == 0 ? null : headerTexts, headerNames.Length == 0 ? null : includeNames), "nvrtcCreateProgram", context: name);
            try
            {
                int result = _compileProgram(program, options.Count, optionTexts);
                string log = ReadLog(program);
                Check(result, "nvrtcCompileProgram", log, $"{name} {string.Join(' ', options)}; NVRTC {Version}");
                byte[] ptx = ReadBytes(program, _getPtxSize, _getPtx, "nvrtcGetPTX");
                byte[] cubin = ReadBytes(program, _getCubinSize, _getCubin, "nvrtcGetCUBIN");
                return new NvrtcOutput(cubin, ptx, log);
            }
            finally
            {
                _destroyProgram(&program);
            }
        }
        finally
        {
            foreach (IntPtr p in pins) System.Runtime.InteropServices.Marshal.FreeCoTaskMem(p);
        }
    }

    private string ReadLog(IntPtr program)
    {
        nuint size;
        if (_getProgramLogSize(program, &size) != 0 || size <= 1) return "";
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes)
            if (_getProgramLog(program, p) != 0) return "";
        return Encoding.UTF8.GetString(bytes, 0, bytes.Length - 1);
    }

    private byte[] ReadBytes(IntPtr program, delegate* unmanaged<IntPtr, nuint*, int> getSize, delegate* unmanaged<IntPtr, byte*, int> get, string call)
    {
        nuint size;
        Check(getSize(program, &size), call + "Size");
        if (size == 0) return [];
        var bytes = new byte[(int)size];
        fixed (byte* p = bytes) Check(get(program, p), call);
        return bytes;
    }
}
