using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>Where NVRTC/cuBLAS are looked for, what was loaded from where, and what a missing cuBLAS does.</summary>
public sealed class LibraryDiscoveryTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "actors-libdirs-" + Guid.NewGuid().ToString("N"));

    private string Make(string relative)
    {
        string dir = Path.Combine(_root, relative.TrimStart('/'));
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, true);
    }

    [Fact]
    public void Wheel_folders_of_every_python_are_searched_after_the_toolkits_and_stubs_never()
    {
        string extra = Make("/opt/extra/lib");
        string cudaPath = Make("/opt/cuda-custom/lib64");
        string local = Make("/usr/local/cuda/lib64");
        Make("/usr/local/cuda/lib64/stubs");
        string v129 = Make("/usr/local/cuda-12.9/targets/x86_64-linux/lib");
        string v1210 = Make("/usr/local/cuda-12.10/lib64");
        string cu13 = Make("/usr/local/lib/python3.12/dist-packages/nvidia/cu13/lib");
        string cublas12 = Make("/usr/lib/python3.10/site-packages/nvidia/cublas/lib");
        string nvrtc12 = Make("/usr/lib/python3.10/site-packages/nvidia/cuda_nvrtc/lib");
        Make("/usr/lib/python3.10/site-packages/nvidia/cudnn"); // no lib/ folder: not listed
        string venv = Make("/work/venv/lib/python3.11/site-packages/nvidia/cublas/lib");
        string user = Make("/home/u/.local/lib/python3.12/site-packages/nvidia/nvjitlink/lib");
        string conda = Make("/opt/conda/lib/python3.11/site-packages/nvidia/cuda_nvrtc/lib");
        var env = new Dictionary<string, string?>
        {
            [CudaLibraryLocations.PathVariable] = extra + ":" + extra + "/../lib/../../extra/lib: ",
            ["CUDA_PATH"] = Path.Combine(_root, "opt/cuda-custom"),
            ["VIRTUAL_ENV"] = Path.Combine(_root, "work/venv"),
            ["HOME"] = Path.Combine(_root, "home/u"),
        };

        var dirs = CudaLibraryLocations.LibraryDirectories(name => env.GetValueOrDefault(name), _root);

        Assert.Equal([extra, cudaPath, local, v1210, v129, venv, conda, cu13, cublas12, nvrtc12, user], dirs);
        Assert.DoesNotContain(dirs, d => d.Contains("stubs"));
    }

    [Fact]
    public void Nothing_is_listed_where_nothing_is_installed()
    {
        Make("/usr/local/lib/python3.12/site-packages"); // a Python without NVIDIA wheels
        Assert.Empty(CudaLibraryLocations.LibraryDirectories(_ => null, _root));
    }

    [Fact]
    public void Nvrtc_and_cublas_candidates_include_the_wheel_folders()
    {
        if (OperatingSystem.IsWindows()) return;
        string wheel = Make("/usr/lib/python3.10/site-packages/nvidia/cuda_nvrtc/lib");
        var dirs = CudaLibraryLocations.LibraryDirectories(_ => null, _root);
        var names = Nvrtc.CandidateNames(null, driverMajor: 12, toolkitDirectories: dirs);
        Assert.Contains(Path.Combine(wheel, "libnvrtc.so.12"), names);
        Assert.True(names.ToList().IndexOf("libnvrtc.so.12") < names.ToList().IndexOf(Path.Combine(wheel, "libnvrtc.so.12")), "the loader's own search comes first");
    }

    [Fact]
    public void Missing_cublas_names_every_library_tried()
    {
        if (OperatingSystem.IsWindows() || Environment.GetEnvironmentVariable("ACTORS_EMU_KERNELS") != null) return; // the emulator provides one
        Assert.False(Cublas.TryLoad(12, out var blas, out string error));
        Assert.Null(blas);
        Assert.Contains("cuBLAS not found", error);
        Assert.Contains("libcublas.so.12", error);
        Assert.Contains("libcublas.so.11", error);
    }

    [Fact]
    public void A_missing_cublas_is_an_error_when_required_and_a_stated_fallback_otherwise()
    {
        const string tried = "cuBLAS not found: none of libcublas.so.12, libcublas.so.11 (with its cublasLt) could be loaded";
        var required = Assert.Throws<CudaException>(() => CudaDevice.DescribeMissingCublas(new CudaDeviceOptions { RequireCublas = true }, tried));
        Assert.StartsWith(tried, required.Message);
        Assert.Contains("RequireCublas", required.Message);
        Assert.Contains(CudaLibraryLocations.PathVariable, required.Message);
        Assert.Equal(tried + "; large batches use the matvec kernels", CudaDevice.DescribeMissingCublas(new CudaDeviceOptions(), tried));
        Assert.StartsWith("cuBLAS disabled", CudaDevice.DescribeMissingCublas(new CudaDeviceOptions { UseCublas = false, RequireCublas = true }, ""));
    }

    [Fact]
    public void Stage_tests_require_cublas_unless_allowed_to_run_without()
    {
        Assert.Equal(Environment.GetEnvironmentVariable(TestEnvironment.AllowNoCublasVariable) == "1", TestEnvironment.CublasMayBeMissing);
    }

    [Fact]
    public void Loaded_library_paths_are_read_from_the_process_maps()
    {
        const string maps = """
            7f0000000000-7f0000001000 r--p 00000000 08:01 123  /usr/lib/x86_64-linux-gnu/libc.so.6
            7f0000100000-7f0000200000 r-xp 00000000 08:01 456  /opt/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublasLt.so.12
            7f0000300000-7f0000400000 r-xp 00000000 08:01 457  /opt/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12
            7f0000500000-7f0000600000 rw-p 00000000 00:00 0    [heap]
            7f0000700000-7f0000800000 r-xp 00000000 08:01 458  /tmp/x/libnvrtc-builtins.so.13.0 (deleted)
            """;
        Assert.Equal("/opt/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublas.so.12", LoadedLibraries.FindInMaps(maps, "libcublas.so"));
        Assert.Equal("/opt/venv/lib/python3.12/site-packages/nvidia/cublas/lib/libcublasLt.so.12", LoadedLibraries.FindInMaps(maps, "libcublasLt.so"));
        Assert.Equal("/tmp/x/libnvrtc-builtins.so.13.0", LoadedLibraries.FindInMaps(maps, "libnvrtc-builtins"));
        Assert.Null(LoadedLibraries.FindInMaps(maps, "libnvidia-ml.so"));
    }

    [Fact]
    public void This_process_finds_its_own_runtime_in_its_maps()
    {
        if (!OperatingSystem.IsLinux()) return;
        Assert.EndsWith("libcoreclr.so", LoadedLibraries.PathOf("libcoreclr.so"));
    }
}
