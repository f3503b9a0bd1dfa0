using Actors.Cuda.Topology;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>Without a driver every entry point says "no CUDA device: &lt;reason&gt;" and nothing escapes as another exception.</summary>
public class NoDriverTests
{
    private const string MissingLibrary = "libcuda-that-does-not-exist.so.1";

    [Fact]
    public void Probe_of_a_missing_driver_library_reports_no_device_with_the_reason()
    {
        var a = CudaAvailability.Probe(MissingLibrary);
        Assert.False(a.IsAvailable);
        Assert.Null(a.Driver);
        Assert.Equal(0, a.DeviceCount);
        Assert.StartsWith("no CUDA device: ", a.Message);
        Assert.Contains(MissingLibrary, a.Message);
        Assert.Contains("could not be loaded", a.Reason);
    }

    [Fact]
    public void Device_creation_from_an_unavailable_probe_fails_with_that_message()
    {
        var a = CudaAvailability.Probe(MissingLibrary);
        var e = Assert.Throws<CudaException>(() => CudaDevice.Create(a, 0));
        Assert.Equal(a.Message, e.Message);
    }

    [Fact]
    public void Topology_of_an_unavailable_probe_is_empty_and_says_why()
    {
        var a = CudaAvailability.Unavailable("libcuda.so.1", "cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected");
        var t = CudaTopology.Discover(a);
        Assert.False(t.IsAvailable);
        Assert.Empty(t.Devices);
        Assert.Empty(t.Links);
        Assert.Equal("no CUDA device: cuInit failed: CUDA_ERROR_NO_DEVICE (100): no CUDA-capable device is detected", t.Reason);
        Assert.Contains(t.Reason, t.Format());
    }

    [Fact]
    public void Missing_nvml_is_reported_not_thrown()
    {
        Assert.False(Nvml.TryOpen(out var nvml, out string error, "libnvidia-ml-that-does-not-exist.so.1"));
        Assert.Null(nvml);
        Assert.Contains("libnvidia-ml-that-does-not-exist.so.1 could not be loaded", error);
    }

    [NoGpuFact]
    public void On_this_machine_cuda_is_unavailable_with_a_stated_reason()
    {
        var a = CudaAvailability.Probe();
        Assert.False(a.IsAvailable);
        Assert.StartsWith("no CUDA device: ", a.Message);
        Assert.False(string.IsNullOrWhiteSpace(a.Reason));
        Assert.Same(a, CudaAvailability.Probe()); // probed once per process
    }

    [NoGpuFact]
    public void On_this_machine_device_creation_fails_with_the_probe_message()
    {
        var e = Assert.Throws<CudaException>(() => CudaDevice.Create());
        Assert.Equal(CudaAvailability.Probe().Message, e.Message);
        Assert.False(CudaDevice.TryCreate(0, out var device, out string reason));
        Assert.Null(device);
        Assert.Equal(CudaAvailability.Probe().Message, reason);
        Assert.Equal(CudaAvailability.Probe().Message, Assert.Throws<CudaException>(() => CudaDriver.Shared).Message);
    }

    [NoGpuFact]
    public void On_this_machine_topology_is_empty_and_says_why()
    {
        var t = CudaTopology.Discover();
        Assert.False(t.IsAvailable);
        Assert.StartsWith("no CUDA device: ", t.Reason);
    }

    [Fact]
    public void Missing_cublas_is_reported_with_every_name_tried()
    {
        if (Cublas.TryLoad(0, out var cublas, out string error))
        {
            Assert.NotNull(cublas);
            return; // installed here: nothing to check about its absence
        }
        Assert.StartsWith("cuBLAS not found: none of ", error);
        if (!OperatingSystem.IsWindows()) Assert.Contains("libcublas.so.12", error);
    }
}
