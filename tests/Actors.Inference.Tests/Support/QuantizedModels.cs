using Actors.Inference.Gguf;
using LLama;

namespace Actors.Inference.Tests.Support;

/// <summary>
/// Test models quantized by llama.cpp's own quantizer (llama_model_quantize through LLamaSharp), the
/// path every downloaded GGUF went through: an F32 generated model converted to one of llama.cpp's
/// file mixes, cached next to the generated models.
/// </summary>
public static class QuantizedModels
{
    /// <summary>Every mix llama.cpp's quantizer writes that this engine must load (llama-quantize's names).</summary>
    public static readonly string[] Mixes =
    [
        "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K",
        "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "IQ4_NL", "IQ4_XS",
    ];

    private static readonly object Gate = new();

    /// <summary>
    /// The path of <paramref name="shape"/>'s F32 test model quantized to <paramref name="mix"/>, made once. The
    /// output head is quantized too, as llama-quantize does by default (LLamaSharp's default leaves it).
    /// </summary>
    public static string Path(string shape, string mix)
    {
        string source = TestModels.Path_(TestModels.Shape(shape, "F32"));
        string path = System.IO.Path.ChangeExtension(source, null) + $"-llamacpp-{mix.ToLowerInvariant()}-out.gguf";
        lock (Gate)
        {
            if (File.Exists(path)) return path;
            LlamaCpp.EnsureLoaded();
            string tmp = path + $".{Environment.ProcessId}.tmp";
            if (!LLamaQuantizer.Quantize(source, tmp, Enum.Parse<LLama.Native.LLamaFtype>("MOSTLY_" + mix), nthread: 2, allowRequantize: false, quantizeOutputTensor: true))
                throw new InvalidOperationException($"llama.cpp could not quantize {source} to {mix}");
            File.Move(tmp, path, overwrite: true);
        }
        return path;
    }

    /// <summary>The tensor types a file holds (to show which kernels a mix exercises).</summary>
    public static IReadOnlyCollection<GgmlType> TypesIn(string path)
    {
        using var f = GgufFile.Open(path);
        return f.Tensors.Select(t => t.Type).Distinct().Order().ToArray();
    }
}
