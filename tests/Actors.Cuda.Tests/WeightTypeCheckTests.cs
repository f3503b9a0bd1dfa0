using Actors.Cuda.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Cuda.Tests;

/// <summary>Weight types the CUDA kernels lack are refused at load, naming the tensor and its type.</summary>
public class WeightTypeCheckTests
{
    private static WeightMatrix Matrix(string name, GgmlType type) =>
        new(name, type, 4, 256, TensorSource.FromArray(new byte[4 * GgmlTypeInfo.RowBytes(type, 256)]));

    [Theory]
    [InlineData(GgmlType.IQ2_XXS)]
    [InlineData(GgmlType.IQ3_S)]
    [InlineData(GgmlType.IQ1_M)]
    [InlineData(GgmlType.TQ2_0)]
    public void A_type_without_cuda_kernels_is_refused_naming_tensor_and_type(GgmlType type)
    {
        var ex = Assert.Throws<NotSupportedException>(() => CudaWeightTypes.EnsureSupported("m.gguf",
            [Matrix("blk.0.attn_q.weight", GgmlType.Q4_K), Matrix("blk.0.ffn_down.weight", type)]));
        Assert.Contains("blk.0.ffn_down.weight", ex.Message);
        Assert.Contains(type.ToString(), ex.Message);
        Assert.Contains("m.gguf", ex.Message);
        Assert.DoesNotContain("attn_q", ex.Message);
    }

    [Fact]
    public void Every_type_with_kernels_passes()
    {
        CudaWeightTypes.EnsureSupported("m.gguf", KernelNames.WeightTypes.Select(t => Matrix("w", t)));
    }

    [Fact]
    public void Every_type_the_cpu_backend_reads_has_cuda_kernels()
    {
        Assert.Equal(GgmlTypeInfo.SupportedWeightTypes.Order(), KernelNames.WeightTypes.Order());
    }

    [Theory]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.Q2_K)]
    [InlineData(GgmlType.IQ4_XS)]
    [InlineData(GgmlType.IQ4_NL)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_1)]
    public void A_llama_cpp_mix_type_is_accepted_with_its_kernels_named(GgmlType type)
    {
        CudaWeightTypes.EnsureSupported("m.gguf", [Matrix("blk.0.attn_q.weight", GgmlType.Q4_K), Matrix("blk.0.ffn_down.weight", type)]);
        string suffix = type.ToString().ToLowerInvariant();
        Assert.Equal("matvec_" + suffix, KernelNames.Matvec(type));
        Assert.Equal($"dequant_{suffix}_to_f16", KernelNames.DequantToF16(type));
        Assert.Equal("embedding_" + suffix, KernelNames.Embedding(type));
        Assert.True(KernelNames.DecodesInGroups(type));
    }
}
