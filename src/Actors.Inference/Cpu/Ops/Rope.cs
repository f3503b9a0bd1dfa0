using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// Rotary position embedding exactly as ggml's rope cache builds it for the llama architecture
/// ("normal" mode: adjacent pairs (x[2i], x[2i+1]) rotate; the converter permuted Q/K to match).
/// θ starts at the position and is multiplied by base^(−2/n_rot) per pair in float, as ggml does,
/// so angles agree with llama.cpp to the last bit of that recurrence. The rotations, the YaRN mix and
/// its magnitude correction use the fused multiply-adds GCC made of ggml's expressions in llama.cpp's
/// CPU build (read from its machine code), so rotated values have llama.cpp's bits too.
/// </summary>
public static class Rope
{
    /// <summary>Fills cos/sin [n_rot/2] for one position.</summary>
    public static void Angles(RopeParameters p, int position, Span<float> cos, Span<float> sin)
    {
        int nDims = p.Dimensions;
        float thetaScale = MathF.Pow(p.FreqBase, -2.0f / nDims);
        var (low, high) = p.ExtFactor != 0 ? p.CorrectionDims() : (0f, 0f);
        float theta = position;
        for (int i0 = 0; i0 < nDims; i0 += 2)
        {
            float ff = p.FreqFactors is { } f ? f[i0 / 2] : 1.0f;
            float thetaExtrap = theta / ff;
            float thetaInterp = p.FreqScale * thetaExtrap;
            float th = thetaInterp;
            float mscale = p.AttnFactor;
            if (p.ExtFactor != 0)
            {
                float y = (i0 / 2 - low) / MathF.Max(0.001f, high - low);
                float rampMix = (1 - MathF.Min(1, MathF.Max(0, y))) * p.ExtFactor;
                th = MathF.FusedMultiplyAdd(thetaInterp, 1 - rampMix, thetaExtrap * rampMix);
                mscale *= MathF.FusedMultiplyAdd(MathF.Log(1.0f / p.FreqScale), 0.1f, 1.0f);
            }
            cos[i0 / 2] = MathF.Cos(th) * mscale;
            sin[i0 / 2] = MathF.Sin(th) * mscale;
            theta *= thetaScale;
        }
    }

    /// <summary>Rotates the first n_rot values of each head of x [heads × headDim] in place, pairing them by <paramref name="style"/>.</summary>
    public static void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, RopeStyle style)
    {
        if (style == RopeStyle.Neox) ApplyNeox(x, heads, headDim, cos, sin);
        else Apply(x, heads, headDim, cos, sin);
    }

    /// <summary>Adjacent pairs (x[2i], x[2i+1]) rotate by angle i ("normal" mode): fma(x0, c, −x1·s) and fma(x0, s, x1·c), as ggml's vector loop.</summary>
    public static void Apply(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int pairs = cos.Length;
        for (int h = 0; h < heads; h++)
        {
            var v = x.Slice(h * headDim, headDim);
            for (int i = 0; i < pairs; i++)
            {
                float x0 = v[2 * i], x1 = v[2 * i + 1];
                v[2 * i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
                v[2 * i + 1] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
            }
        }
    }

    /// <summary>NeoX mode: x[i] and x[i + n_rot/2] rotate by angle i: fma(x0, c, −x1·s) and fma(x0, s, x1·c), as ggml's scalar loop.</summary>
    public static void ApplyNeox(Span<float> x, int heads, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int pairs = cos.Length;
        for (int h = 0; h < heads; h++)
        {
            var v = x.Slice(h * headDim, headDim);
            for (int i = 0; i < pairs; i++)
            {
                float x0 = v[i], x1 = v[i + pairs];
                v[i] = MathF.FusedMultiplyAdd(x0, cos[i], -(x1 * sin[i]));
                v[i + pairs] = MathF.FusedMultiplyAdd(x0, sin[i], x1 * cos[i]);
            }
        }
    }
}
