using Actors.Inference.Model;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>The CUDA backend refuses, at load and without a GPU, the architectures its kernels do not implement.</summary>
public class ArchitectureSupportTests
{
    private static LlamaConfig Config(ArchitectureTraits t, int window = 0) => new()
    {
        Architecture = t.Name, Traits = t, EmbeddingLength = 64, BlockCount = 2, HeadCount = 4, HeadCountKv = 2, HeadDim = 16,
        FeedForwardLength = 128, VocabSize = 320, ContextLength = 256, RmsNormEps = 1e-5f, SlidingWindow = window,
        Rope = new RopeParameters(16, 10000f, RopeScalingType.None, 1f, 256, 0f, 1f, 32f, 1f, null, t.RopeStyle),
    };

    [Fact]
    public void Llama_and_mistral_pass_the_check()
    {
        CudaArchitectureSupport.Check(Config(ArchitectureTraits.Llama), "m.gguf");
        CudaArchitectureSupport.Check(Config(ArchitectureTraits.Mistral), "m.gguf");
    }

    [Theory]
    [InlineData("qwen2", "QKV bias")]
    [InlineData("qwen3", "Q/K norm")]
    [InlineData("gemma2", "sliding-window attention")]
    [InlineData("gemma3", "GeGLU")]
    [InlineData("phi3", "NeoX RoPE")]
    public void Other_architectures_are_refused_naming_what_the_kernels_lack(string arch, string missing)
    {
        var e = Assert.Throws<NotSupportedException>(() => CudaArchitectureSupport.Check(Config(ArchitectureTraits.Find(arch)!, window: 8), "m.gguf"));
        Assert.Contains($"architecture '{arch}'", e.Message);
        Assert.Contains(missing, e.Message);
        Assert.Contains("llama, mistral", e.Message);
    }
}
