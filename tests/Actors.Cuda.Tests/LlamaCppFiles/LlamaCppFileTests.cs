using Actors.Cuda.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Cuda.Tests.LlamaCppFiles;

/// <summary>
/// Files made by llama.cpp's quantizer in the mixes users download (Q5_K_M, Q3_K_M, Q2_K, IQ4_XS, ...):
/// the CUDA load check accepts them and their real blocks decode bit for bit like the C# reference on the
/// host build of kernels/ggml_groups.cuh (the stage test on these files is in GpuStageTests.LlamaCpp.cs).
/// </summary>
public class LlamaCppFileTests
{
    public static TheoryData<string> MixCases() => new(LlamaCppQuantized.Mixes);

    /// <summary>The type each mix is named after, which its file must hold.</summary>
    private static GgmlType MainType(string mix) => Enum.Parse<GgmlType>(mix.EndsWith("_M") ? mix[..^2] : mix);

    [Theory]
    [MemberData(nameof(MixCases))]
    public void A_llama_cpp_file_of_the_mix_passes_the_cuda_load_check(string mix)
    {
        string path = LlamaCppQuantized.Path(mix);
        var types = LlamaCppQuantized.TypesIn(path);
        Assert.Contains(MainType(mix), types);
        using var file = GgufFile.Open(path);
        var matrices = file.Tensors.Where(t => t.Dims.Length == 2)
            .Select(t => new WeightMatrix(t.Name, t.Type, (int)t.RowCount, (int)t.RowLength, TensorSource.FromArray(file.TensorMemory(t).ToArray())))
            .ToList();
        CudaWeightTypes.EnsureSupported(Path.GetFileName(path), matrices);
    }

    [HostCompilerTheory]
    [MemberData(nameof(MixCases))]
    public void Every_group_type_tensor_of_a_llama_cpp_file_decodes_bit_for_bit_like_the_reference(string mix)
    {
        using var file = GgufFile.Open(LlamaCppQuantized.Path(mix));
        var tensors = file.Tensors.Where(t => KernelNames.DecodesInGroups(t.Type)).ToList();
        Assert.Contains(tensors, t => t.Type == MainType(mix));
        foreach (var t in tensors)
            HostDecodeTests.AssertHostDecodesLikeReference(t.Type, file.TensorMemory(t).ToArray(), $"{mix} tensor {t.Name}");
    }
}
