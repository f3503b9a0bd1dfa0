namespace Actors.Inference.Model;

/// <summary>RoPE frequency scaling as llama.cpp reads it from `{arch}.rope.scaling.*`.</summary>
public enum RopeScalingType
{
    None = 0,
    Linear = 1,
    Yarn = 2,
}

/// <summary>
/// The RoPE parameters of one model. Angles follow ggml's rope cache: θ(p, i) = p·base^(−2i/n_rot),
/// divided by freq_factors[i] when the model has `rope_freqs.weight` (Llama 3.1 scaling), then mixed
/// by YaRN or scaled linearly by <see cref="FreqScale"/>. <see cref="Style"/> says which values pair up.
/// </summary>
public sealed record RopeParameters(
    int Dimensions,
    float FreqBase,
    RopeScalingType Scaling,
    float FreqScale,
    int OriginalContextLength,
    float ExtFactor,
    float AttnFactor,
    float BetaFast,
    float BetaSlow,
    float[]? FreqFactors,
    RopeStyle Style = RopeStyle.Normal)
{
    /// <summary>YaRN correction range [low, high] in pair indices (ggml_rope_yarn_corr_dims).</summary>
    public (float Low, float High) CorrectionDims()
    {
        float Dim(float nRot) => Dimensions * MathF.Log(OriginalContextLength / (nRot * 2 * MathF.PI)) / (2 * MathF.Log(FreqBase));
        float start = MathF.Floor(Dim(BetaFast));
        float end = MathF.Ceiling(Dim(BetaSlow));
        return (MathF.Max(0, start), MathF.Min(Dimensions - 1, end));
    }
}
