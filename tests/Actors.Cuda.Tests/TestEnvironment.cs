using Actors.Cuda;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>What this machine offers the tests: a CUDA device (probed once) and NVRTC.</summary>
public static class TestEnvironment
{
    public static CudaAvailability Cuda => CudaAvailability.Probe();

    /// <summary>Set to 1 on machines where NVRTC may be absent; otherwise a missing NVRTC fails the compile tests.</summary>
    public const string SkipNvrtcVariable = "ACTORS_SKIP_NVRTC";

    public static bool SkipNvrtcRequested => Environment.GetEnvironmentVariable(SkipNvrtcVariable) == "1";

    /// <summary>Set to 1 to let GPU tests run without cuBLAS (large batches then use the matvec kernels, and the GEMM path goes untested).</summary>
    public const string AllowNoCublasVariable = "ACTORS_ALLOW_NO_CUBLAS";

    public static bool CublasMayBeMissing => Environment.GetEnvironmentVariable(AllowNoCublasVariable) == "1";

    /// <summary>
    /// Fails (naming every library tried) when cuBLAS did not load, unless ACTORS_ALLOW_NO_CUBLAS=1: the stage
    /// tests call it, so a missing cuBLAS is reported instead of the GEMM path silently going untested.
    /// The op tests do not need cuBLAS and run either way.
    /// </summary>
    public static void RequireCublasUnlessAllowed(CudaDevice device)
    {
        if (device.Cublas == null && !CublasMayBeMissing)
            Assert.Fail($"cuBLAS is required for the GEMM path ({device.CublasStatus}); set {AllowNoCublasVariable}=1 to test the matvec fallback instead");
    }

    private static readonly Lazy<CudaDevice> SharedDevice = new(() => CudaDevice.Create(0));
    private static string? _lostContext;

    /// <summary>
    /// Device 0, opened once per process for all GPU tests (they run in one collection, one at a time).
    /// After a sticky error (illegal address, ...) the context is unusable for the rest of the process:
    /// later tests then fail at once naming the error, instead of each failing obscurely. The GPU check
    /// runner (GpuCheck/) runs each test method in its own process, so there one culprit stays one failure.
    /// </summary>
    public static CudaDevice Device
    {
        get
        {
            if (_lostContext != null) throw new CudaException(_lostContext);
            var device = SharedDevice.Value;
            try
            {
                device.Context.MakeCurrent();
                device.Context.Synchronize();
            }
            catch (CudaException e) when (e.IsContextLost)
            {
                _lostContext = ContextLostMessage(e);
                throw new CudaException(_lostContext, e);
            }
            return device;
        }
    }

    /// <summary>What every GPU test after a sticky error reports (pure).</summary>
    public static string ContextLostMessage(CudaException e) =>
        $"device 0's CUDA context was lost by an earlier test ({e.Message}); every later GPU test in this process fails. " +
        "Run the GPU check runner, which gives each test method its own process, to find the culprit";

    /// <summary>The repository's kernels/ folder (for comparing against what was embedded).</summary>
    public static string KernelsDirectory
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "kernels");
                if (File.Exists(Path.Combine(candidate, "common.cuh"))) return candidate;
            }
            throw new DirectoryNotFoundException($"no kernels/ folder above {AppContext.BaseDirectory}");
        }
    }
}

/// <summary>A fact that needs a CUDA device; skipped with "no CUDA device: &lt;reason&gt;" when there is none.</summary>
public sealed class GpuFactAttribute : FactAttribute
{
    public GpuFactAttribute()
    {
        if (!TestEnvironment.Cuda.IsAvailable) Skip = TestEnvironment.Cuda.Message;
    }
}

/// <summary>A theory that needs a CUDA device; skipped with "no CUDA device: &lt;reason&gt;" when there is none.</summary>
public sealed class GpuTheoryAttribute : TheoryAttribute
{
    public GpuTheoryAttribute()
    {
        if (!TestEnvironment.Cuda.IsAvailable) Skip = TestEnvironment.Cuda.Message;
    }
}

/// <summary>A fact about behaviour without a GPU; skipped on machines that have one.</summary>
public sealed class NoGpuFactAttribute : FactAttribute
{
    public NoGpuFactAttribute()
    {
        if (TestEnvironment.Cuda.IsAvailable) Skip = "a CUDA device is present: " + TestEnvironment.Cuda.Message;
    }
}

/// <summary>
/// A theory that needs NVRTC. It runs (and fails, saying what was tried) when NVRTC is missing,
/// unless ACTORS_SKIP_NVRTC=1 is set: CI installs NVRTC with tools/install-nvrtc.sh.
/// </summary>
public sealed class NvrtcTheoryAttribute : TheoryAttribute
{
    public NvrtcTheoryAttribute()
    {
        if (TestEnvironment.SkipNvrtcRequested && !Nvrtc.TryLoad(out _, out string error))
            Skip = $"{TestEnvironment.SkipNvrtcVariable}=1 and {error}";
    }
}

/// <summary>The fact form of <see cref="NvrtcTheoryAttribute"/>.</summary>
public sealed class NvrtcFactAttribute : FactAttribute
{
    public NvrtcFactAttribute()
    {
        if (TestEnvironment.SkipNvrtcRequested && !Nvrtc.TryLoad(out _, out string error))
            Skip = $"{TestEnvironment.SkipNvrtcVariable}=1 and {error}";
    }
}

/// <summary>GPU tests share device 0 and run one at a time.</summary>
[CollectionDefinition("gpu", DisableParallelization = true)]
public sealed class GpuCollection;
