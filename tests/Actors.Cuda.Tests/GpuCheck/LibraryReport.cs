using Actors.Cuda.Compilation;
using Actors.Interop.Cuda;

namespace Actors.Cuda.Tests.GpuCheck;

/// <summary>
/// Opens device 0 the way the backend does and says which native libraries were loaded from where
/// (read back from /proc/self/maps, so LD_LIBRARY_PATH, the loader cache and wheel folders all show
/// as the file really used). Lines are "key: value"; run.sh copies them into its summary.
/// </summary>
public static class LibraryReport
{
    public const int ExitMissingCublas = 5;

    public static int Run(TextWriter output)
    {
        var availability = CudaAvailability.Probe();
        output.WriteLine($"driver: {availability.Message}");
        output.WriteLine($"libcuda: {LoadedLibraries.PathOf("libcuda.so") ?? "not loaded"}");
        foreach (string dir in CudaLibraryLocations.LibraryDirectories()) output.WriteLine($"search folder: {dir}");
        if (!availability.IsAvailable) return Program.ExitNoGpu;

        bool nvrtcOk = Nvrtc.TryLoad(out var nvrtc, out string nvrtcError, availability.DriverMajor);
        if (!nvrtcOk)
        {
            output.WriteLine($"nvrtc: MISSING: {nvrtcError}");
            return 1;
        }

        using var device = CudaDevice.Create(0, new CudaDeviceOptions { RequireCublas = false });
        var info = device.Info;
        output.WriteLine($"device: {info.Name}, sm_{info.ComputeMajor}{info.ComputeMinor}, {StageMemoryPlan.Size(info.TotalMemoryBytes)}, {info.MultiprocessorCount} SMs, PCI {info.PciBusId}");
        output.WriteLine($"nvrtc: {nvrtc!.Version} from {LoadedLibraries.PathOf("libnvrtc.so") ?? nvrtc.LibraryName}; archs {string.Join(",", nvrtc.SupportedArchs)}");
        // A compile (no cached CUBIN) loads the builtins; check that one works here rather than in the first test.
        device.Compiler.CompileFresh("residual_add.cu", device.Target);
        output.WriteLine($"nvrtc-builtins: {LoadedLibraries.PathOf("libnvrtc-builtins") ?? "not loaded"}");
        output.WriteLine($"kernels: {KernelSources.Embedded.Files.Count} files compiled and loaded as {device.Target}");
        output.WriteLine($"cublas: {(device.Cublas != null ? device.CublasStatus : "MISSING: " + device.CublasStatus)}");
        output.WriteLine($"cublasLt: {LoadedLibraries.PathOf("libcublasLt.so") ?? "not loaded"}");
        if (Nvml.TryOpen(out var nvml, out string nvmlError))
        {
            using (nvml) output.WriteLine($"nvml: {LoadedLibraries.PathOf("libnvidia-ml.so") ?? nvml!.LibraryName}");
        }
        else
        {
            output.WriteLine($"nvml: MISSING: {nvmlError}");
        }
        return device.Cublas == null ? ExitMissingCublas : 0;
    }
}
