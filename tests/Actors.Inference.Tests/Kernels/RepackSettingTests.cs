using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;

namespace Actors.Inference.Tests.Kernels;

public sealed class RepackSettingTests
{
    [Fact]
    public void A_comma_list_names_the_types_to_repack()
    {
        Assert.Equal(new[] { GgmlType.Q8_0, GgmlType.Q6_K }, WeightRepacking.ParseTypes(" q8_0 , Q6_K ").OrderBy(t => t == GgmlType.Q6_K));
        Assert.Same(WeightRepacking.DefaultTypes, WeightRepacking.ParseTypes(null));
    }

    [Theory]
    [InlineData("Q8_0,Q9_9", "'Q9_9' is not a GGML type")]
    [InlineData("42", "'42' is not a GGML type")]
    [InlineData("Q4_K,F16", "F16 has no repacked layout")]
    public void A_name_that_is_no_type_or_has_no_layout_is_refused_by_name(string value, string expected)
    {
        var ex = Assert.Throws<ArgumentException>(() => WeightRepacking.ParseTypes(value));
        Assert.Contains(expected, ex.Message);
    }
}
