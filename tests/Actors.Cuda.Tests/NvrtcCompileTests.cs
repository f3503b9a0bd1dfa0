using Actors.Cuda.Compilation;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// Every kernels/*.cu compiles to CUBIN for sm_86 (RTX 3090) and sm_90 (H100/H200) through the
/// project's own NVRTC binding; the CUBIN is an ELF for that arch with every extern "C" entry.
/// </summary>
public class NvrtcCompileTests
{
    public static TheoryData<string, int> FilesAndArchs()
    {
        var data = new TheoryData<string, int>();
        foreach (string file in KernelSources.Embedded.Files.Keys)
        foreach (int sm in new[] { 86, 90 })
            data.Add(file, sm);
        return data;
    }

    [NvrtcTheory]
    [MemberData(nameof(FilesAndArchs))]
    public void Kernel_file_compiles_to_a_cubin_with_every_entry_point(string file, int sm)
    {
        var compiler = new KernelCompiler(Nvrtc.Load());
        var output = compiler.CompileFresh(file, CompileTarget.Cubin(sm));
        var entries = KernelSources.EntryPoints(KernelSources.Embedded[file]);
        Assert.NotEmpty(entries);
        var info = CubinInspector.Verify(output.Cubin, sm, entries, $"{file} sm_{sm}");
        Assert.Equal(sm, info.Sm); // low byte of e_flags up to CUDA 12, bits 8-15 under CUDA 13's ELF ABI 8
        Assert.NotEmpty(output.Ptx);
        Assert.Equal(0, output.Ptx[^1]);
    }

    [NvrtcFact]
    public void Compile_error_names_the_call_the_status_and_carries_nvrtc_log()
    {
        var sources = new KernelSources(
            new Dictionary<string, string> { ["broken.cu"] = "#include \"common.cuh\"\nextern \"C\" __global__ void broken(int* p)\n{\n    int i = 0\n    p[0] = 1;\n}\n" },
            KernelSources.Embedded.Headers);
        var compiler = new KernelCompiler(Nvrtc.Load(), sources);
        var e = Assert.Throws<CudaException>(() => compiler.CompileFresh("broken.cu", CompileTarget.Cubin(86)));
        Assert.StartsWith("nvrtcCompileProgram failed: NVRTC_ERROR_COMPILATION (6)", e.Message);
        Assert.Contains("broken.cu(", e.Message);
        Assert.Contains("error", e.Log);
        Assert.Equal(CudaApi.Nvrtc, e.Api);
    }

    [NvrtcFact]
    public void Virtual_architecture_gives_ptx_and_no_cubin()
    {
        var compiler = new KernelCompiler(Nvrtc.Load());
        var output = compiler.CompileFresh("rmsnorm.cu", CompileTarget.Ptx(86));
        Assert.Empty(output.Cubin);
        string ptx = System.Text.Encoding.ASCII.GetString(output.Ptx);
        Assert.Contains(".target sm_86", ptx);
        Assert.Contains(".entry rmsnorm_f32", ptx);
    }

    [NvrtcFact]
    public void Nvrtc_reports_a_version_and_supports_the_target_architectures()
    {
        var nvrtc = Nvrtc.Load();
        Assert.True(nvrtc.Major >= 11, nvrtc.Version);
        Assert.Contains(86, nvrtc.SupportedArchs);
        Assert.Contains(90, nvrtc.SupportedArchs);
    }

    [NvrtcFact]
    public void Compiled_image_is_cached_and_a_corrupt_entry_is_recompiled()
    {
        string dir = Path.Combine(Path.GetTempPath(), "actors-cubin-test-" + Guid.NewGuid().ToString("N"));
        try
        {
            var cache = new CubinCache(dir);
            var compiler = new KernelCompiler(Nvrtc.Load(), cache: cache);
            var target = CompileTarget.Cubin(86);
            byte[] first = compiler.GetImage("residual_add.cu", target);
            string[] files = Directory.GetFiles(dir, "*.cubin");
            Assert.Single(files);
            Assert.Equal(first, File.ReadAllBytes(files[0]));

            File.WriteAllBytes(files[0], [1, 2, 3]);
            byte[] again = compiler.GetImage("residual_add.cu", target);
            CubinInspector.Verify(again, 86, ["residual_add_f32"], "recompiled");
            Assert.Equal(again, File.ReadAllBytes(files[0]));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }
}
