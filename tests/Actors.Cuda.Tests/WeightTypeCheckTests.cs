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
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q3_K)]
    [InlineData(GgmlType.IQ4_XS)]
    [InlineData(GgmlType.Q4_1)]
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
}
