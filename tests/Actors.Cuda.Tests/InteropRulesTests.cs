using System.Runtime.InteropServices;
using Actors.Cuda.Topology;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

public class InteropRulesTests
{
    [Fact]
    public void Exception_message_names_call_status_and_description()
    {
        var e = new CudaException(CudaApi.Driver, "cuMemAlloc_v2", 2, CudaStatusNames.Name(CudaApi.Driver, 2), "out of memory");
        Assert.Equal("cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory", e.Message);
        Assert.True(e.IsOutOfMemory);
        var withContext = new CudaException(CudaApi.Driver, "cuLaunchKernel", 701, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch", context: "rmsnorm_f32 grid (1,1,1)");
        Assert.Equal("cuLaunchKernel failed: CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES (701): too many resources requested for launch [rmsnorm_f32 grid (1,1,1)]", withContext.Message);
        var nvrtc = new CudaException(CudaApi.Nvrtc, "nvrtcCompileProgram", 6, "NVRTC_ERROR_COMPILATION", null, "x.cu(3): error: expected a \";\"\n");
        Assert.Equal("nvrtcCompileProgram failed: NVRTC_ERROR_COMPILATION (6)" + Environment.NewLine + "x.cu(3): error: expected a \";\"", nvrtc.Message);
    }

    [Theory]
    [InlineData(CudaApi.Driver, 34, "CUDA_ERROR_STUB_LIBRARY")]
    [InlineData(CudaApi.Driver, 100, "CUDA_ERROR_NO_DEVICE")]
    [InlineData(CudaApi.Driver, 209, "CUDA_ERROR_NO_BINARY_FOR_GPU")]
    [InlineData(CudaApi.Driver, 12345, "CUDA_ERROR_12345")]
    [InlineData(CudaApi.Nvrtc, 6, "NVRTC_ERROR_COMPILATION")]
    [InlineData(CudaApi.Nvrtc, 5, "NVRTC_ERROR_INVALID_OPTION")]
    [InlineData(CudaApi.Cublas, 3, "CUBLAS_STATUS_ALLOC_FAILED")]
    [InlineData(CudaApi.Nvml, 9, "NVML_ERROR_DRIVER_NOT_LOADED")]
    public void Status_codes_have_their_header_names(CudaApi api, int code, string name) =>
        Assert.Equal(name, CudaStatusNames.Name(api, code));

    [Fact]
    public void Nvrtc_is_searched_override_first_then_newest_major_first()
    {
        if (OperatingSystem.IsWindows()) return;
        Assert.Equal(["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"], Nvrtc.CandidateNames(null));
        Assert.Equal(["/opt/cuda/lib64/libnvrtc.so.12", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"],
            Nvrtc.CandidateNames("/opt/cuda/lib64/libnvrtc.so.12"));
        Assert.Equal(["libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"], Nvrtc.CandidateNames("  ", driverMajor: 12));
        Assert.Equal(["libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so", "/usr/local/cuda/lib64/libnvrtc.so.12", "/usr/local/cuda/lib64/libnvrtc.so.11.2", "/usr/local/cuda/lib64/libnvrtc.so"],
            Nvrtc.CandidateNames(null, driverMajor: 12, toolkitDirectories: ["/usr/local/cuda/lib64"]));
    }

    [Fact]
    public void Cublas_is_searched_with_its_cublaslt_of_the_same_major()
    {
        if (OperatingSystem.IsWindows()) return;
        Assert.Equal([("libcublasLt.so.13", "libcublas.so.13", 13), ("libcublasLt.so.12", "libcublas.so.12", 12), ("libcublasLt.so.11", "libcublas.so.11", 11)],
            Cublas.CandidateNames());
        Assert.Equal([("libcublasLt.so.11", "libcublas.so.11", 11)], Cublas.CandidateNames(driverMajor: 11));
    }

    [Fact]
    public void Row_major_linear_layer_maps_to_transposed_column_major_gemm()
    {
        // Y[M=5, N=3] = X[5, K=7] · W[3, 7]ᵀ  →  C(3x5, col-major) = Wᵀ(op T of a 7x3 col-major W) · X(7x5 col-major)
        var g = GemmMapping.LinearLayer(tokens: 5, outFeatures: 3, inFeatures: 7);
        Assert.Equal(new GemmMapping(Cublas.OpT, Cublas.OpN, M: 3, N: 5, K: 7, Lda: 7, Ldb: 7, Ldc: 3), g);
        Assert.Equal(10, GemmMapping.LinearLayer(5, 3, 7, yRowStride: 10).Ldc);
        Assert.Throws<ArgumentException>(() => GemmMapping.LinearLayer(5, 3, 7, yRowStride: 2));
        Assert.Throws<ArgumentException>(() => GemmMapping.LinearLayer(0, 3, 7));
    }

    [Fact]
    public void Row_major_gemm_mapping_computes_a_linear_layer()
    {
        // Run the mapped column-major GEMM on the CPU and compare with the row-major definition.
        var rng = new Random(3);
        int tokens = 4, outF = 3, inF = 5;
        var x = Enumerable.Range(0, tokens * inF).Select(_ => rng.NextDouble()).ToArray();
        var w = Enumerable.Range(0, outF * inF).Select(_ => rng.NextDouble()).ToArray();
        var g = GemmMapping.LinearLayer(tokens, outF, inF);
        var c = new double[g.Ldc * g.N];
        for (int i = 0; i < g.M; i++)
        for (int j = 0; j < g.N; j++)
        {
            double sum = 0;
            for (int p = 0; p < g.K; p++)
            {
                double a = g.TransA == Cublas.OpT ? w[p + i * g.Lda] : w[i + p * g.Lda]; // op(A)[i,p]
                double b = g.TransB == Cublas.OpT ? x[j + p * g.Ldb] : x[p + j * g.Ldb]; // op(B)[p,j]
                sum += a * b;
            }
            c[i + j * g.Ldc] = sum;
        }
        for (int t = 0; t < tokens; t++)
        for (int o = 0; o < outF; o++)
        {
            double expected = 0;
            for (int k = 0; k < inF; k++) expected += x[t * inF + k] * w[o * inF + k];
            Assert.Equal(expected, c[t * outF + o], 12); // Y row-major [t, o]
        }
    }

    [Fact]
    public void Nvml_pci_info_has_the_68_byte_layout_of_nvml_h()
    {
        Assert.Equal(68, Marshal.SizeOf<NvmlPciInfo>());
        Assert.Equal(16, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Domain)));
        Assert.Equal(20, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Bus)));
        Assert.Equal(24, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.Device)));
        Assert.Equal(28, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.PciDeviceId)));
        Assert.Equal(32, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.PciSubSystemId)));
        Assert.Equal(36, (int)Marshal.OffsetOf<NvmlPciInfo>(nameof(NvmlPciInfo.BusId)));
    }

    [Fact]
    public void Nvml_devices_are_matched_to_cuda_ordinals_by_pci_numbers_not_order()
    {
        var cuda = new[] { new PciAddress(0, 0x41, 0), new PciAddress(0, 0x01, 0), new PciAddress(1, 0x01, 0) };
        var nvml = new[] { new PciAddress(0, 0x01, 0), new PciAddress(1, 0x01, 0), new PciAddress(0, 0x41, 0), new PciAddress(0, 0x81, 0) };
        Assert.Equal([2, 0, 1], TopologyRules.MatchNvmlToCuda(cuda, nvml));
        Assert.Equal([null], TopologyRules.MatchNvmlToCuda([new PciAddress(0, 0x99, 0)], nvml));
        var e = Assert.Throws<InvalidOperationException>(() => TopologyRules.MatchNvmlToCuda([cuda[0]], [cuda[0], cuda[0]]));
        Assert.Contains("00000000:41:00.0", e.Message);
    }

    [Fact]
    public void Nvlinks_ending_at_the_peer_are_counted_and_switches_recognised()
    {
        var peer = new PciAddress(0, 0x42, 0);
        var bridged = new[]
        {
            new NvmlNvLink(0, NvmlNvLinkDeviceType.Gpu, peer), new NvmlNvLink(1, NvmlNvLinkDeviceType.Gpu, peer),
            new NvmlNvLink(2, NvmlNvLinkDeviceType.Gpu, new PciAddress(0, 0x43, 0)),
        };
        Assert.Equal(2, TopologyRules.DirectNvLinks(bridged, peer));
        Assert.False(TopologyRules.BehindNvSwitch(bridged));
        var switched = new[] { new NvmlNvLink(0, NvmlNvLinkDeviceType.Switch, new PciAddress(0, 0xA0, 0)) };
        Assert.Equal(0, TopologyRules.DirectNvLinks(switched, peer));
        Assert.True(TopologyRules.BehindNvSwitch(switched));
    }

    [Theory]
    [InlineData(false, NvmlP2PStatus.Ok, 4, true, TransferPath.HostStaged)]   // never trust an unverified grant
    [InlineData(true, NvmlP2PStatus.Ok, 0, false, TransferPath.NvLink)]
    [InlineData(true, null, 4, false, TransferPath.NvLink)]                    // bridged pair without NVML's P2P answer
    [InlineData(true, null, 0, true, TransferPath.NvLink)]                     // NVSwitch board
    [InlineData(true, NvmlP2PStatus.NotSupported, 0, false, TransferPath.PciePeer)]
    [InlineData(true, null, 0, false, TransferPath.PciePeer)]
    public void Path_choice_prefers_verified_nvlink_then_pcie_then_host(bool verified, NvmlP2PStatus? nvlink, int direct, bool switched, TransferPath expected) =>
        Assert.Equal(expected, TopologyRules.ChoosePath(verified, nvlink, direct, switched));

    [Fact]
    public void Topology_table_lists_devices_and_links_with_measurements()
    {
        var topology = new CudaTopology(
            [
                new CudaTopologyDevice(0, "NVIDIA GeForce RTX 3090", 24L << 30, "8.6", new PciAddress(0, 1, 0), 0, []),
                new CudaTopologyDevice(1, "NVIDIA GeForce RTX 3090", 24L << 30, "8.6", new PciAddress(0, 0x41, 0), 1, []),
            ],
            [
                new CudaLink(0, 1, true, true, null, NvmlP2PStatus.Ok, NvmlP2PStatus.Ok, NvmlTopologyLevel.HostBridge, 4, TransferPath.NvLink,
                    new LinkMeasurement(16384, 9.5, 64L << 20, 48.2)),
                new CudaLink(1, 0, true, false, "test copy failed", null, null, null, 0, TransferPath.HostStaged, null),
            ],
            "NVML: 2 of 2 CUDA devices matched by PCI address");
        string text = topology.Format();
        Assert.Contains("RTX 3090", text);
        Assert.Contains("00000000:41:00.0", text);
        Assert.Contains("NvLink", text);
        Assert.Contains("9.5 us", text);
        Assert.Contains("48.2 GB/s", text);
        Assert.Contains("FAILED", text);
        Assert.Contains("test copy failed", text);
        Assert.Equal(TransferPath.NvLink, topology.Link(0, 1)!.Path);
    }
}
