using Actors.Inference.Model;

namespace Actors.Cuda;

/// <summary>
/// Which architectures the CUDA kernels implement: llama's forward pass (llama, mistral). The others
/// (QKV bias, per-head Q/K norm, NeoX RoPE, sliding windows, soft-capping, post-norms, GeGLU) run on
/// the CPU backend only for now; loading one here fails at once, naming what the kernels lack.
/// </summary>
public static class CudaArchitectureSupport
{
    public static readonly IReadOnlyList<string> Supported = ["llama", "mistral"];

    /// <summary>Throws <see cref="NotSupportedException"/> with one line naming the model, its architecture and the missing features.</summary>
    public static void Check(LlamaConfig c, string modelName)
    {
        if (Supported.Contains(c.Architecture) && c.Traits.RopeStyle == RopeStyle.Normal) return;
        var t = c.Traits;
        var missing = new List<string>();
        if (t.QkvBias) missing.Add("QKV bias");
        if (t.QkNorm) missing.Add("Q/K norm");
        if (t.RopeStyle == RopeStyle.Neox) missing.Add("NeoX RoPE");
        if (c.SlidingWindow > 0 && t.SlidingPattern > 0) missing.Add("sliding-window attention");
        if (c.AttentionSoftcap > 0 || c.FinalLogitSoftcap > 0) missing.Add("logit soft-capping");
        if (t.PostNorms) missing.Add("post-norms");
        if (t.Activation == GatedActivation.GeluTanh) missing.Add("GeGLU");
        if (t.ScaleEmbedding) missing.Add("embedding scale");
        throw new NotSupportedException(
            $"{modelName}: architecture '{c.Architecture}' is not implemented by the CUDA backend (it lacks {string.Join(", ", missing)}); " +
            $"CUDA runs {string.Join(", ", Supported)}; use the CPU backend for this model");
    }
}
