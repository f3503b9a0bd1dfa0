using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// Activations converted in token ranges (as the CPU stage does across its threads) must equal the
/// one-call conversion in every buffer a kernel reads, for every activation form and kernel path.
/// </summary>
public class PrepareTokensTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var type in new[] { GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K })
            foreach (var path in KernelTestData.Paths)
                yield return [type, path];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Token_ranges_give_the_same_activations_as_one_call(GgmlType type, KernelPath path)
    {
        int tokens = 7, cols = 512;
        var x = KernelTestData.Gaussian(tokens * cols, 11);
        var whole = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, whole, path);
        var ranged = new PreparedActivations();
        MatMul.PrepareShape(type, x, tokens, cols, ranged, path);
        foreach (var (t0, t1) in new[] { (4, 7), (0, 1), (1, 4) }) MatMul.PrepareTokens(x, ranged, t0, t1);

        Assert.Equal(whole.Kind, ranged.Kind);
        Assert.Equal(whole.QuadInterleaved, ranged.QuadInterleaved);
        Assert.Equal(whole.HasRepackSums, ranged.HasRepackSums);
        int n = tokens * cols, scales = tokens * whole.ScaleStride, sums = tokens * whole.Blocks;
        if (whole.Kind == ActivationKind.Float) Assert.Equal(whole.Floats.Slice(0, n).ToArray(), ranged.Floats.Slice(0, n).ToArray());
        else
        {
            Assert.Equal(whole.Quants.Slice(0, n).ToArray(), ranged.Quants.Slice(0, n).ToArray());
            Assert.Equal(whole.Scales.Slice(0, scales).ToArray(), ranged.Scales.Slice(0, scales).ToArray());
        }
        if (whole.Kind is ActivationKind.Q8_0 or ActivationKind.Q8_1)
            Assert.Equal(whole.ScaledSums.Slice(0, scales).ToArray(), ranged.ScaledSums.Slice(0, scales).ToArray());
        if (whole.Kind == ActivationKind.Q8_0 && whole.HasRepackSums && whole.WeightType == GgmlType.Q8_0)
            Assert.Equal(whole.OffsetSums.Slice(0, n / 4).ToArray(), ranged.OffsetSums.Slice(0, n / 4).ToArray());
        if (whole.Kind == ActivationKind.Q8_K)
        {
            Assert.Equal(whole.Sums16.Slice(0, sums * 16).ToArray(), ranged.Sums16.Slice(0, sums * 16).ToArray());
            if (whole.HasRepackSums) Assert.Equal(whole.PairSums.Slice(0, sums * 4).ToArray(), ranged.PairSums.Slice(0, sums * 4).ToArray());
        }
    }

    [Fact]
    public void A_token_range_past_the_prepared_tokens_is_rejected()
    {
        var act = new PreparedActivations();
        var x = KernelTestData.Gaussian(2 * 256, 3);
        MatMul.PrepareShape(GgmlType.Q4_K, x, 2, 256, act);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => MatMul.PrepareTokens(x, act, 1, 3));
        Assert.Contains("[1, 3) of 2", ex.Message);
    }
}
