using Actors.Inference.Cpu.Ops;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// <see cref="Rope"/> against ggml_rope_ext on ggml's CPU backend (the build LLamaSharp ships), on
/// random heads at positions up to 4000: both pairings (normal, NeoX), plain, linear scaling, YaRN,
/// and per-pair frequency factors. Every rotated value must have the same bits.
/// </summary>
public sealed class RopeParityTests
{
    /// <summary>style, head size, base, freq scale (1 = none), YaRN (ext factor 1, original context 4096), with frequency factors.</summary>
    public static TheoryData<RopeStyle, int, float, float, bool, bool> Cases() => new()
    {
        { RopeStyle.Normal, 64, 10000f, 1f, false, false },
        { RopeStyle.Neox, 64, 10000f, 1f, false, false },
        { RopeStyle.Normal, 128, 500000f, 1f, false, true },
        { RopeStyle.Neox, 96, 1000000f, 0.125f, false, false },
        { RopeStyle.Neox, 128, 10000f, 0.25f, true, false },
        { RopeStyle.Normal, 32, 20000f, 0.5f, true, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rope_has_the_bits_of_ggml_rope_ext(RopeStyle style, int headDim, float freqBase, float freqScale, bool yarn, bool factors)
    {
        if (!GgmlGraph.IsAvx512Build) return; // the FMAs reproduced are the AVX-512 build's
        const int heads = 3, origContext = 4096;
        int[] positions = [0, 1, 2, 7, 15, 16, 33, 100, 255, 1000, 2047, 4000];
        var rng = new DeterministicRandom((ulong)(headDim * 31 + (int)style));
        var x = new float[positions.Length * heads * headDim];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextGaussian();
        float[]? ff = null;
        if (factors)
        {
            ff = new float[headDim / 2];
            for (int i = 0; i < ff.Length; i++) ff[i] = 1f + (float)Math.Abs(rng.NextGaussian()) * 4f;
        }
        float ext = yarn ? 1f : 0f, attn = yarn ? 1f : 1f, betaFast = 32f, betaSlow = 1f;
        var p = new RopeParameters(headDim, freqBase, yarn ? RopeScalingType.Yarn : freqScale != 1f ? RopeScalingType.Linear : RopeScalingType.None,
            freqScale, origContext, ext, attn, betaFast, betaSlow, ff, style);

        using var g = new GgmlGraph(16L << 20);
        var t = g.Tensor3(headDim, heads, positions.Length, x);
        var rope = g.RopeExt(t, g.Int32Tensor(positions), ff is null ? IntPtr.Zero : g.Tensor1(ff), headDim, style == RopeStyle.Neox ? 2 : 0, origContext,
            freqBase, freqScale, ext, attn, betaFast, betaSlow);
        var expected = g.Compute(rope, x.Length);

        var ours = (float[])x.Clone();
        var cos = new float[headDim / 2];
        var sin = new float[headDim / 2];
        for (int k = 0; k < positions.Length; k++)
        {
            Rope.Angles(p, positions[k], cos, sin);
            Rope.Apply(ours.AsSpan(k * heads * headDim, heads * headDim), heads, headDim, cos, sin, style);
        }
        int differ = 0, first = -1;
        for (int i = 0; i < x.Length; i++)
            if (BitConverter.SingleToInt32Bits(ours[i]) != BitConverter.SingleToInt32Bits(expected[i])) { differ++; if (first < 0) first = i; }
        Assert.True(differ == 0, $"{differ} of {x.Length} rotated values differ; first at {first} (position {(first < 0 ? 0 : positions[first / (heads * headDim)])}): {(first < 0 ? "" : $"{ours[first]:R} vs ggml {expected[first]:R}")}");
    }
}
