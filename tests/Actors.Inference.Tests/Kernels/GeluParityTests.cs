using Actors.Inference.Cpu.Ops;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// GeGLU's GELU against llama.cpp's own (ggml_gelu on ggml's CPU backend, the build LLamaSharp ships):
/// ggml rounds x to f16 and reads a table of f16 results built at start-up, so every table entry must
/// be the same f16 value for our activations to match llama.cpp's bit for bit.
/// </summary>
public sealed class GeluParityTests
{
    [Fact]
    public void Gelu_has_the_bits_of_ggml_gelu_for_every_f16_input_and_beyond_its_table()
    {
        if (!GgmlGraph.IsAvx512Build) return; // the table is the AVX-512 build's (compiled with FMA contraction)
        var inputs = new List<float>();
        for (int bits = 0; bits < 1 << 16; bits++)
        {
            float f = (float)BitConverter.UInt16BitsToHalf((ushort)bits);
            if (float.IsFinite(f)) inputs.Add(f);
        }
        // Values between f16 neighbours (rounded by the lookup), and the ±10 edges of the table.
        var rng = new Actors.Inference.Synthetic.DeterministicRandom(3);
        for (int i = 0; i < 4096; i++) inputs.Add((float)(rng.NextGaussian() * 4));
        inputs.AddRange([-10f, 10f, MathF.BitDecrement(10f), MathF.BitIncrement(-10f), 1e-8f, -1e-8f]);
        var x = inputs.ToArray();

        using var g = new GgmlGraph(16L << 20);
        var expected = g.Compute(g.Gelu(g.Tensor3(x.Length, 1, 1, x)), x.Length);
        int differ = 0;
        string first = "";
        for (int i = 0; i < x.Length; i++)
        {
            float ours = GeluGlu.Gelu(x[i]);
            if (BitConverter.SingleToInt32Bits(ours) == BitConverter.SingleToInt32Bits(expected[i])) continue;
            if (differ++ == 0) first = $"gelu({x[i]:R}) = {ours:R}, ggml {expected[i]:R}";
        }
        Assert.True(differ == 0, $"{differ} of {x.Length} GELU values differ from ggml's; first: {first}");
    }
}
