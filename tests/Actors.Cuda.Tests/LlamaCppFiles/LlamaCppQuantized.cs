using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;
using LLama;
using LLama.Native;

namespace Actors.Cuda.Tests.LlamaCppFiles;

/// <summary>
/// A generated F32 model quantized by llama.cpp's own quantizer (llama_model_quantize through LLamaSharp),
/// the path every downloaded GGUF went through, cached next to the generated model. Not in the GPU bundle
/// (tools/gpu-bundle.sh leaves this folder and LLamaSharp out: the bundle cannot carry llama.cpp).
/// </summary>
public static class LlamaCppQuantized
{
    /// <summary>The llama.cpp mixes whose files hold the types kernels/ggml_groups.cuh decodes.</summary>
    public static readonly string[] Mixes = ["Q5_K_M", "Q3_K_M", "Q2_K", "IQ4_XS", "IQ4_NL", "Q5_0", "Q4_1", "Q5_1"];

    public static readonly SyntheticModelSpec Base = new()
    {
        Dim = 256, Layers = 2, Heads = 4, KvHeads = 2, Ffn = 512, Vocab = 320, WeightType = "F32", Seed = 7,
    };

    private static readonly object Gate = new();
    private static bool s_loaded;

    /// <summary>The path of <see cref="Base"/> quantized to <paramref name="mix"/> (output head included, as llama-quantize does).</summary>
    public static string Path(string mix)
    {
        string source = SyntheticModelGenerator.EnsureCached(Base);
        string path = System.IO.Path.ChangeExtension(source, null) + $"-llamacpp-{mix.ToLowerInvariant()}-out.gguf";
        lock (Gate)
        {
            if (File.Exists(path)) return path;
            if (!s_loaded)
            {
                NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
                NativeApi.llama_empty_call();
                s_loaded = true;
            }
            string tmp = path + $".{Environment.ProcessId}.tmp";
            if (!LLamaQuantizer.Quantize(source, tmp, Enum.Parse<LLamaFtype>("MOSTLY_" + mix), nthread: 2, allowRequantize: false, quantizeOutputTensor: true))
                throw new InvalidOperationException($"llama.cpp could not quantize {source} to {mix}");
            File.Move(tmp, path, overwrite: true);
        }
        return path;
    }

    /// <summary>The tensor types in a file.</summary>
    public static IReadOnlyCollection<GgmlType> TypesIn(string path)
    {
        using var f = GgufFile.Open(path);
        return f.Tensors.Select(t => t.Type).Distinct().Order().ToArray();
    }
}
