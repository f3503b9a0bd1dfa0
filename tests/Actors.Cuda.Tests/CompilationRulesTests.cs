using System.Buffers.Binary;
using System.Text;
using Actors.Cuda.Compilation;
using Xunit;

namespace Actors.Cuda.Tests;

public class CompilationRulesTests
{
    private static readonly int[] Nvrtc118 = [35, 37, 50, 52, 53, 60, 61, 62, 70, 72, 75, 80, 86, 87, 89, 90];

    [Theory]
    [InlineData(8, 6, "sm_86", true)]   // RTX 3090
    [InlineData(9, 0, "sm_90", true)]   // H100 / H200
    [InlineData(8, 9, "sm_89", true)]
    [InlineData(12, 0, "compute_90", false)] // newer than NVRTC 11.8 knows: PTX for the driver to JIT
    public void Arch_selection_prefers_the_devices_own_cubin(int major, int minor, string arch, bool cubin)
    {
        var target = ArchSelection.Select(major, minor, Nvrtc118, "11.8");
        Assert.Equal(arch, target.Architecture);
        Assert.Equal(cubin, target.IsCubin);
    }

    [Fact]
    public void Arch_selection_falls_back_to_an_older_minor_of_the_same_major()
    {
        var target = ArchSelection.Select(8, 9, [70, 75, 80, 86], "11.1");
        Assert.Equal("sm_86", target.Architecture);
        Assert.True(target.IsCubin);
    }

    [Fact]
    public void Arch_selection_assumes_the_devices_own_arch_when_nvrtc_cannot_list_them()
    {
        Assert.Equal("sm_90", ArchSelection.Select(9, 0, [], "11.1").Architecture);
    }

    [Fact]
    public void Arch_selection_names_an_unsupported_compute_capability()
    {
        var e = Assert.Throws<NotSupportedException>(() => ArchSelection.Select(6, 1, Nvrtc118));
        Assert.Contains("6.1 (sm_61)", e.Message);
        Assert.Contains("7.0 or newer", e.Message);
        var e2 = Assert.Throws<NotSupportedException>(() => ArchSelection.Select(9, 0, [100, 120], "13.0"));
        Assert.Contains("sm_90", e2.Message);
        Assert.Contains("NVRTC 13.0", e2.Message);
    }

    [Fact]
    public void Nvrtc_options_are_default_device_cxx17_and_the_arch()
    {
        Assert.Equal(["-default-device", "--std=c++17", "--gpu-architecture=sm_86"], NvrtcOptions.Build(CompileTarget.Cubin(86)));
        Assert.Equal("--gpu-architecture=compute_90", NvrtcOptions.Build(CompileTarget.Ptx(90))[2]);
    }

    [Fact]
    public void Cache_key_is_stable_and_changes_with_every_input()
    {
        var headers = new Dictionary<string, string> { ["common.cuh"] = "h" };
        var t = CompileTarget.Cubin(86);
        var o = NvrtcOptions.Build(t);
        string key = CubinCache.Key("11.8", t, o, "a.cu", "src", headers);
        Assert.Matches("^[0-9a-f]{64}$", key);
        Assert.Equal(key, CubinCache.Key("11.8", t, o, "a.cu", "src", new Dictionary<string, string> { ["common.cuh"] = "h" }));
        var variants = new[]
        {
            CubinCache.Key("12.4", t, o, "a.cu", "src", headers),
            CubinCache.Key("11.8", CompileTarget.Cubin(90), NvrtcOptions.Build(CompileTarget.Cubin(90)), "a.cu", "src", headers),
            CubinCache.Key("11.8", CompileTarget.Ptx(86), o, "a.cu", "src", headers),
            CubinCache.Key("11.8", t, [.. o, "-lineinfo"], "a.cu", "src", headers),
            CubinCache.Key("11.8", t, o, "b.cu", "src", headers),
            CubinCache.Key("11.8", t, o, "a.cu", "src ", headers),
            CubinCache.Key("11.8", t, o, "a.cu", "src", new Dictionary<string, string> { ["common.cuh"] = "h2" }),
            CubinCache.Key("11.8", t, o, "a.cu", "src", new Dictionary<string, string> { ["other.cuh"] = "h" }),
        };
        Assert.DoesNotContain(key, variants);
        Assert.Equal(variants.Length, variants.Distinct().Count());
    }

    [Fact]
    public void Cache_directory_is_under_actors_cache_or_the_home_cache()
    {
        Assert.Equal(Path.Combine("/tmp/root", "cubin"), CubinCache.DefaultDirectory("/tmp/root"));
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile, Environment.SpecialFolderOption.DoNotVerify);
        if (Environment.GetEnvironmentVariable(CubinCache.RootVariable) is not { Length: > 0 })
            Assert.Equal(Path.Combine(home, ".cache", "actors", "cubin"), CubinCache.DefaultDirectory());
    }

    [Fact]
    public void Entry_points_are_the_extern_c_global_functions()
    {
        const string source = "extern \"C\" __global__ void a_f32(const P p) {}\n__global__ void hidden() {}\nextern \"C\"  __global__  void b(int x)\n{}";
        Assert.Equal(["a_f32", "b"], KernelSources.EntryPoints(source));
    }

    [Fact]
    public void Embedded_kernels_are_exactly_the_repository_kernels_folder()
    {
        var repo = KernelSources.FromDirectory(TestEnvironment.KernelsDirectory);
        var embedded = KernelSources.Embedded;
        Assert.Equal(repo.Files.Keys.Order(), embedded.Files.Keys.Order());
        Assert.Equal(repo.Headers.Keys.Order(), embedded.Headers.Keys.Order());
        foreach (var (name, text) in repo.Files) Assert.Equal(text, embedded.Files[name]);
        foreach (var (name, text) in repo.Headers) Assert.Equal(text, embedded.Headers[name]);
    }

    [Fact]
    public void Every_kernel_file_opens_with_its_math_launch_shape_and_pointer_layouts()
    {
        foreach (var (name, text) in KernelSources.Embedded.Files)
        {
            Assert.StartsWith($"// {name}:", text);
            string header = string.Join('\n', text.Split('\n').TakeWhile(l => l.StartsWith("//")));
            Assert.Matches(@"//\s+Grid:", header);
            Assert.Matches(@"//\s+Block:", header);
            Assert.Matches(@"//\s+Pointers:", header);
        }
    }

    // ---- CUBIN (ELF) reading ----------------------------------------------------------------------

    /// <summary>A minimal ELF64 with the given machine, flags and section names (index 1 is .shstrtab).</summary>
    internal static byte[] FakeElf(ushort machine, uint flags, params string[] sections) => FakeElf(machine, flags, 0, sections);

    internal static byte[] FakeElf(ushort machine, uint flags, byte abiVersion, params string[] sections)
    {
        var names = new List<string> { "", ".shstrtab" };
        names.AddRange(sections);
        var strtab = new MemoryStream();
        var offsets = new List<int>();
        foreach (string n in names)
        {
            offsets.Add((int)strtab.Length);
            strtab.Write(Encoding.ASCII.GetBytes(n));
            strtab.WriteByte(0);
        }
        int strOffset = 64, shoff = 64 + (int)strtab.Length;
        shoff = (shoff + 7) & ~7;
        var elf = new byte[shoff + 64 * names.Count];
        elf[0] = 0x7F; elf[1] = (byte)'E'; elf[2] = (byte)'L'; elf[3] = (byte)'F';
        elf[4] = 2; elf[5] = 1; elf[6] = 1; elf[8] = abiVersion;
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(18), machine);
        BinaryPrimitives.WriteUInt64LittleEndian(elf.AsSpan(40), (ulong)shoff);
        BinaryPrimitives.WriteUInt32LittleEndian(elf.AsSpan(48), flags);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(58), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(60), (ushort)names.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(elf.AsSpan(62), 1);
        strtab.ToArray().CopyTo(elf, strOffset);
        for (int i = 0; i < names.Count; i++)
        {
            var sh = elf.AsSpan(shoff + 64 * i, 64);
            BinaryPrimitives.WriteUInt32LittleEndian(sh, (uint)offsets[i]);
            if (i == 1)
            {
                BinaryPrimitives.WriteUInt64LittleEndian(sh[24..], (ulong)strOffset);
                BinaryPrimitives.WriteUInt64LittleEndian(sh[32..], (ulong)strtab.Length);
            }
        }
        return elf;
    }

    [Fact]
    public void Cubin_reader_finds_arch_and_kernel_sections()
    {
        byte[] elf = FakeElf(190, 0x00560556, ".text.rmsnorm_f32", ".nv.info.rmsnorm_f32", ".text.other");
        var info = CubinInspector.Read(elf);
        Assert.True(info.TargetsSm(86));
        Assert.False(info.TargetsSm(90));
        Assert.Equal(["rmsnorm_f32", "other"], info.Functions);
        CubinInspector.Verify(elf, 86, ["rmsnorm_f32"], "fake");
        var missing = Assert.Throws<InvalidDataException>(() => CubinInspector.Verify(elf, 86, ["rmsnorm_f32", "absent"], "fake"));
        Assert.Contains("lacks absent", missing.Message);
        var arch = Assert.Throws<InvalidDataException>(() => CubinInspector.Verify(elf, 90, [], "fake"));
        Assert.Contains("sm_90", arch.Message);
    }

    [Fact]
    public void Cubin_reader_takes_the_sm_from_bits_8_to_15_under_the_cuda_13_elf_abi_version_8()
    {
        // CUDA 13 (ABI 8): SM in the second byte, other flags in the low byte.
        var v8 = CubinInspector.Read(FakeElf(190, 0x5A02, abiVersion: 8));
        Assert.Equal(90, v8.Sm);
        Assert.True(v8.TargetsSm(90));
        Assert.False(v8.TargetsSm(2));
        Assert.Equal(86, CubinInspector.Read(FakeElf(190, 0x5608, abiVersion: 8)).Sm);
        // CUDA 11-12 (ABI 7): SM in the low byte, the virtual arch in bits 16-23.
        var v7 = CubinInspector.Read(FakeElf(190, 0x005A055A, abiVersion: 7));
        Assert.Equal(90, v7.Sm);
        Assert.False(v7.TargetsSm(5));
        var wrong = Assert.Throws<InvalidDataException>(() => CubinInspector.Verify(FakeElf(190, 0x5A02, abiVersion: 8), 86, [], "v8"));
        Assert.Contains("is for sm_90", wrong.Message);
    }

    [Fact]
    public void Cubin_reader_rejects_what_is_not_a_cuda_elf()
    {
        Assert.Contains("bad magic", Assert.Throws<InvalidDataException>(() => CubinInspector.Read(new byte[100])).Message);
        Assert.Contains("only 3 bytes", Assert.Throws<InvalidDataException>(() => CubinInspector.Read([0x7F, 0x45, 0x4C])).Message);
        Assert.Contains("not EM_CUDA", Assert.Throws<InvalidDataException>(() => CubinInspector.Read(FakeElf(62, 0))).Message);
        byte[] truncated = FakeElf(190, 0x56, ".text.a")[..80];
        Assert.Contains("outside", Assert.Throws<InvalidDataException>(() => CubinInspector.Read(truncated)).Message);
    }
}
