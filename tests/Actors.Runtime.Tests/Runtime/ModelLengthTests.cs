using Actors.Inference.Gguf;
using Actors.Inference.Quantization;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>The runtime opens its model for the longest sequence it will run.</summary>
public sealed class ModelLengthTests
{
    // Phi-3 with LongRoPE: context_length 8192, original context 4096.
    private static readonly Inference.Synthetic.SyntheticModelSpec Phi3 =
        RuntimeFixture.Small with { Architecture = "phi3", Context = 8192, RopeOriginalContext = 4096, Layers = 2 };

    private static float[] Factors(string tensor)
    {
        using var f = GgufFile.Open(RuntimeFixture.ModelPath(Phi3));
        var t = f.FindTensor(tensor)!;
        var values = new float[t.ElementCount];
        ReferenceQuantizer.Dequantize(t.Type, f.TensorSpan(t, 0, (int)t.ByteSize), values);
        return values;
    }

    [Theory]
    [InlineData(0, 8192, "rope_factors_long.weight")]      // the model's context_length, past the original context
    [InlineData(20000, 8192, "rope_factors_long.weight")]  // capped at context_length
    [InlineData(4096, 4096, "rope_factors_short.weight")]  // within the original context: llama.cpp's short factors
    [InlineData(2048, 2048, "rope_factors_short.weight")]
    public void Max_model_length_defaults_to_the_context_length_and_picks_phi3_rope_factors_as_llama_cpp_does(int configured, int expected, string factors)
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config($"actors-runtime.scheduler.max-model-length = {configured}", Phi3), name: "model-length");
        Assert.Equal(expected, h.Runtime.MaxModelLength);
        Assert.Equal(Factors(factors), h.Runtime.Model.Config.Rope.FreqFactors);
    }
}
