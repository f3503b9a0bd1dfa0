using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using Actors.Cuda.Compilation;
using Actors.Cuda.Kernels;
using Actors.Inference.Compute;
using Actors.Interop.Cuda;
using Xunit;

namespace Actors.Cuda.Tests;

public class KernelRulesTests
{
    [Fact]
    public void Launch_shapes_follow_the_kernel_headers()
    {
        Assert.Equal(new LaunchConfig(new Dim3(7, 2), new Dim3(256)), LaunchShapes.Embedding(7, 257));
        Assert.Equal(new LaunchConfig(new Dim3(3), new Dim3(256)), LaunchShapes.RmsNorm(3));
        Assert.Equal(new LaunchConfig(new Dim3(5, 40), new Dim3(64)), LaunchShapes.Rope(5, 32, 8));
        Assert.Equal(new LaunchConfig(new Dim3(9), new Dim3(128)), LaunchShapes.KvWrite(9));
        Assert.Equal(new LaunchConfig(new Dim3(32, 6), new Dim3(128)), LaunchShapes.AttentionDecode(32, 6, 128));
        Assert.Equal(new LaunchConfig(new Dim3(32, 4), new Dim3(128), 41088), LaunchShapes.AttentionPrefill(32, 4, 128));
        Assert.Equal(new LaunchConfig(new Dim3(1025, 2), new Dim3(128)), LaunchShapes.Matvec(4097, 9));
        Assert.Equal(new LaunchConfig(new Dim3(11008, 16), new Dim3(256)), LaunchShapes.Dequant(11008, 4096));
        Assert.Equal(new LaunchConfig(new Dim3(11008, 2), new Dim3(256)), LaunchShapes.DequantGroups(11008, 4096));
        Assert.Equal(new LaunchConfig(new Dim3(3, 1), new Dim3(256)), LaunchShapes.DequantGroups(3, 32));
        Assert.Equal(new LaunchConfig(new Dim3(2), new Dim3(1024)), LaunchShapes.Sample(2));
        Assert.Equal(new Dim3(4), LaunchShapes.Elementwise(1000).Grid);
        Assert.Equal(new Dim3(65535), LaunchShapes.Elementwise(100_000_000).Grid); // grid-stride beyond
        Assert.Equal(new Dim3(1), LaunchShapes.Elementwise(0).Grid);
    }

    [Fact]
    public void Prefill_shared_memory_grows_with_head_size_and_needs_opt_in_above_48k()
    {
        Assert.Equal(4 * (16 * 64 + 32 * 65 + 32 * 64), LaunchShapes.PrefillSharedBytes(64));
        Assert.True(LaunchShapes.PrefillSharedBytes(128) <= 48 * 1024);
        Assert.True(LaunchShapes.PrefillSharedBytes(256) > 48 * 1024);
        Assert.True(LaunchShapes.PrefillSharedBytes(256) <= 99 * 1024); // RTX 3090's opt-in limit
    }

    [Fact]
    public void Launch_shapes_name_the_limit_they_exceed()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => LaunchShapes.AttentionDecode(32, 70000, 128));
        Assert.Contains("decode tokens = 70000", e.Message);
        Assert.Contains("65535", e.Message);
        Assert.Contains("head size 512", Assert.Throws<ArgumentOutOfRangeException>(() => LaunchShapes.AttentionPrefill(8, 1, 512)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => LaunchShapes.RmsNorm(0));
    }

    [Fact]
    public void Attention_plan_sends_single_tokens_to_decode_and_chunks_to_prefill_tiles()
    {
        var batch = new StepBatch();
        batch.EnsureCapacity(tokens: 40, sequences: 3, blockTableWidth: 4);
        batch.SequenceCount = 3;
        batch.TokenCount = 1 + 35 + 1;
        batch.QueryStart[0] = 0;
        batch.QueryStart[1] = 1;
        batch.QueryStart[2] = 36;
        batch.QueryStart[3] = 37;
        var plan = new AttentionPlan();
        plan.Build(batch);
        Assert.Equal(2, plan.DecodeCount);
        Assert.Equal([0, 2], plan.DecodeSeq[..2]);
        Assert.Equal([0, 36], plan.DecodeToken[..2]);
        Assert.Equal(3, plan.TileCount); // 35 tokens: 16 + 16 + 3
        Assert.Equal([1, 1, 1], plan.TileSeq[..3]);
        Assert.Equal([1, 17, 33], plan.TileToken[..3]);
        Assert.Equal([1, 36, 37], plan.SeqTokenEnd[..3]);
    }

    [Fact]
    public void Every_launched_kernel_is_defined_and_every_defined_kernel_is_launched()
    {
        var defined = KernelSources.Embedded.Files.Values.SelectMany(KernelSources.EntryPoints).ToList();
        Assert.Equal(defined.Count, defined.Distinct().Count());
        var launched = KernelNames.All().ToList();
        Assert.Empty(launched.Except(defined));
        Assert.Empty(defined.Except(launched));
    }

    private static readonly Regex BlockHeader = new(@"^//\s+Block:\s+\((\d+)\)", RegexOptions.Multiline);
    private static readonly Regex GlobalWithBounds = new(@"__global__\s+void\s+(?:__launch_bounds__\((\d+)\)\s*)?(\w+)\s*\(");

    /// <summary>
    /// Without __launch_bounds__ the compiler may give a kernel up to 255 registers per thread, and
    /// a block of more than 256 threads then fails to launch (65,536 registers per block).
    /// </summary>
    public static TheoryData<string> KernelFiles()
    {
        var data = new TheoryData<string>();
        foreach (string file in KernelSources.Embedded.Files.Keys) data.Add(file);
        return data;
    }

    [Theory]
    [MemberData(nameof(KernelFiles))]
    public void Kernels_launched_with_more_than_256_threads_declare_launch_bounds_of_their_block(string file)
    {
        string text = KernelSources.Embedded[file];
        var headers = BlockHeader.Matches(text);
        Assert.True(headers.Count > 0, $"{file} has no '// Block: (N)' header line");
        int threads = headers.Max(h => int.Parse(h.Groups[1].Value));
        foreach (Match m in GlobalWithBounds.Matches(text))
        {
            if (threads <= 256) continue;
            Assert.True(m.Groups[1].Success, $"{file}: {m.Groups[2].Value} runs {threads}-thread blocks but has no __launch_bounds__({threads})");
            Assert.Equal(threads, int.Parse(m.Groups[1].Value));
        }
    }

    [Fact]
    public void Sampling_kernels_are_bounded_to_their_1024_thread_launch()
    {
        Assert.Equal(1024, LaunchShapes.SampleThreads);
        Assert.Equal(["argmax_f32", "topk_f32"], KernelSources.EntryPoints(KernelSources.Embedded["sampling.cu"]));
        Assert.Equal(2, Regex.Matches(KernelSources.Embedded["sampling.cu"], @"__global__ void __launch_bounds__\(1024\) \w+\(").Count);
    }

    [Fact]
    public void Unsupported_weight_types_are_named()
    {
        var e = Assert.Throws<NotSupportedException>(() => KernelNames.Matvec(Actors.Inference.Gguf.GgmlType.IQ2_XS));
        Assert.Contains("IQ2_XS", e.Message);
        Assert.Contains("Q5_K", e.Message); // the supported list
    }

    [Fact]
    public void Group_type_ids_and_block_sizes_in_the_header_match_the_gguf_types()
    {
        string header = KernelSources.Embedded.Headers["ggml_groups.cuh"];
        var groupTypes = KernelNames.WeightTypes.Where(KernelNames.DecodesInGroups).ToList();
        Assert.Equal(8, groupTypes.Count);
        foreach (var t in groupTypes)
        {
            string name = t.ToString();
            var id = Regex.Match(header, $@"#define GGML_{name} (\d+)");
            Assert.True(id.Success, $"ggml_groups.cuh has no GGML_{name}");
            Assert.Equal((int)t, int.Parse(id.Groups[1].Value));
            Assert.Contains($"decode8_{name.ToLowerInvariant()}(const u8* blk, int g, float v[8])", header);
            Assert.Contains($"type == GGML_{name} ? {Actors.Inference.Gguf.GgmlTypeInfo.BlockBytes(t)}", header);
        }
    }

    // ---- params structs: C (kernels/*.cu) and C# (KernelParams.cs) agree ---------------------------

    private static readonly Regex StructPattern = new(@"struct\s+(\w+Params)\s*\{([^}]*)\};", RegexOptions.Compiled);
    private static readonly Regex FieldPattern = new(@"^\s*(?:const\s+)?(\w+)\s*(\*?)\s*(\w+)\s*;", RegexOptions.Compiled | RegexOptions.Multiline);
    private static readonly Regex SizePattern = new(@"ACTORS_CHECK_SIZE\((\w+),\s*(\d+)\)", RegexOptions.Compiled);

    public static TheoryData<string> ParamsStructs()
    {
        var data = new TheoryData<string>();
        foreach (var text in KernelSources.Embedded.Files.Values)
        foreach (Match m in StructPattern.Matches(text))
            data.Add(m.Groups[1].Value);
        return data;
    }

    private static string Pascal(string snake) =>
        string.Concat(snake.Split('_').Select(p => p.Length == 0 ? "" : char.ToUpperInvariant(p[0]) + p[1..]));

    [Theory]
    [MemberData(nameof(ParamsStructs))]
    public void Params_struct_mirror_has_the_same_fields_types_and_size(string name)
    {
        string text = KernelSources.Embedded.Files.Values.Single(t => t.Contains($"struct {name}"));
        var body = StructPattern.Matches(text).Single(m => m.Groups[1].Value == name).Groups[2].Value;
        var cFields = FieldPattern.Matches(body).Select(m => (Type: m.Groups[1].Value, Pointer: m.Groups[2].Value == "*", Name: m.Groups[3].Value)).ToList();
        int cSize = int.Parse(SizePattern.Matches(text).Single(m => m.Groups[1].Value == name).Groups[2].Value);

        var mirror = typeof(CudaKernels).Assembly.GetType($"Actors.Cuda.Kernels.{name}") ?? throw new Xunit.Sdk.XunitException($"no C# mirror Actors.Cuda.Kernels.{name}");
        Assert.True(mirror.IsLayoutSequential, $"{name} must be [StructLayout(LayoutKind.Sequential)]");
        var csFields = mirror.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic).OrderBy(f => Marshal.OffsetOf(mirror, f.Name)).ToList();
        Assert.Equal(cFields.Select(f => Pascal(f.Name)), csFields.Select(f => f.Name));
        for (int i = 0; i < cFields.Count; i++)
        {
            var c = cFields[i];
            Type expected = c.Pointer ? typeof(ulong) : c.Type switch
            {
                "int" => typeof(int),
                "float" => typeof(float),
                "i64" => typeof(long),
                _ => throw new Xunit.Sdk.XunitException($"{name}.{c.Name}: C type {c.Type} has no mirror rule"),
            };
            Assert.True(expected == csFields[i].FieldType, $"{name}.{c.Name} is {c.Type}{(c.Pointer ? "*" : "")} in C but {csFields[i].FieldType.Name} in C#");
        }
        Assert.Equal(cSize, Marshal.SizeOf(mirror));
    }
}
