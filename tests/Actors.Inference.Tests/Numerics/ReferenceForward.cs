using Actors.Inference.Model;

namespace Actors.Inference.Tests.Numerics;

/// <summary>
/// A naive forward pass in double precision for one sequence, written to be read, not to be fast:
/// dense per-layer K/V arrays, plain loops, weights decoded row by row with the reference decoders.
/// Every backend is tested against it. It covers every supported architecture, written from the
/// models' definitions (llama.cpp's graph for each):
/// - RoPE: angles θ_i = pos · base^(−2i/n_rot) / freq_factor_i · freq_scale, times attn_factor on
///   cos/sin; llama/mistral rotate adjacent pairs, qwen2/3, gemma2/3 and phi3 rotate (x_i, x_{i+n/2}).
/// - qwen2: Q/K/V biases. qwen3, gemma3: RMS norm of every Q and K head before RoPE.
/// - gemma2/3: embeddings × sqrt(dim); GeGLU; post-attention and post-FFN norms; sliding-window
///   layers (key p visible from query q when q − p &lt; window); gemma3's sliding layers use RoPE base
///   10000; gemma2 soft-caps attention scores and logits (tanh(s/c)·c).
/// - phi3: fused QKV and gate/up tensors (already split into row ranges by the loader).
/// The one place it copies an engine detail rather than the math: GELU's input and output are
/// rounded to f16 as ggml's CPU backend does (its f16 lookup table), since that rounding is part of
/// what llama.cpp computes and worth ~1e-3 per activation.
/// </summary>
public sealed class ReferenceForward
{
    private readonly LlamaModel _m;
    private readonly LlamaConfig _c;
    private readonly List<double[][]> _keys = new();   // per layer: [position][kvDim]
    private readonly List<double[][]> _values = new(); // per layer: [position][kvDim]

    public ReferenceForward(LlamaModel model)
    {
        _m = model;
        _c = model.Config;
        for (int l = 0; l < _c.BlockCount; l++)
        {
            _keys.Add(new double[_c.ContextLength][]);
            _values.Add(new double[_c.ContextLength][]);
        }
    }

    public int Position { get; private set; }

    /// <summary>Feeds one token at the next position and returns its logits [vocab].</summary>
    public double[] Step(int token)
    {
        if ((uint)token >= (uint)_c.VocabSize) throw new ArgumentOutOfRangeException(nameof(token), $"token {token} outside vocabulary of {_c.VocabSize}");
        if (Position >= _c.ContextLength) throw new InvalidOperationException($"context of {_c.ContextLength} tokens is full");
        int dim = _c.EmbeddingLength, hd = _c.HeadDim, pos = Position;
        var traits = _c.Traits;

        double[] x = Row(_m.TokenEmbedding, token);                       // [dim] residual stream
        if (traits.ScaleEmbedding)
            for (int i = 0; i < dim; i++) x[i] *= Math.Sqrt(dim);
        for (int l = 0; l < _c.BlockCount; l++)
        {
            var w = _m.Layers[l];
            var layer = _c.LayerAttention(l);
            double[] xb = Norm(x, w.AttentionNorm);                        // [dim]
            double[] q = MatVec(w.Query, xb);                              // [heads * hd]
            double[] k = MatVec(w.Key, xb);                                // [kvHeads * hd]
            double[] v = MatVec(w.Value, xb);                              // [kvHeads * hd]
            if (w.QueryBias != null)
            {
                AddTo(q, w.QueryBias);
                AddTo(k, w.KeyBias!);
                AddTo(v, w.ValueBias!);
            }
            if (w.QueryNorm != null)
            {
                NormHeads(q, _c.HeadCount, w.QueryNorm);
                NormHeads(k, _c.HeadCountKv, w.KeyNorm!);
            }
            RotateHeads(q, _c.HeadCount, pos, layer.Rope);
            RotateHeads(k, _c.HeadCountKv, pos, layer.Rope);
            _keys[l][pos] = k;
            _values[l][pos] = v;

            double[] att = new double[_c.QueryDim];                        // [heads * hd]
            double scale = _c.EffectiveAttentionScale;
            int first = layer.IsSliding ? Math.Max(0, pos - layer.SlidingWindow + 1) : 0;
            for (int h = 0; h < _c.HeadCount; h++)
            {
                int kvh = h / _c.GroupSize;
                double[] scores = new double[pos + 1];                     // [pos + 1], used from first
                double max = double.NegativeInfinity;
                for (int j = first; j <= pos; j++)
                {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += q[h * hd + i] * _keys[l][j][kvh * hd + i];
                    scores[j] = SoftCap(s * scale, _c.AttentionSoftcap);
                    max = Math.Max(max, scores[j]);
                }
                double sum = 0;
                for (int j = first; j <= pos; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                for (int j = first; j <= pos; j++)
                    for (int i = 0; i < hd; i++) att[h * hd + i] += scores[j] / sum * _values[l][j][kvh * hd + i];
            }
            double[] o = MatVec(w.Output, att);                            // [dim]
            if (w.PostAttentionNorm != null) o = Norm(o, w.PostAttentionNorm);
            for (int i = 0; i < dim; i++) x[i] += o[i];

            xb = Norm(x, w.FfnNorm);                                       // [dim]
            double[] g = MatVec(w.Gate, xb);                               // [ffn]
            double[] u = MatVec(w.Up, xb);                                 // [ffn]
            for (int i = 0; i < g.Length; i++) g[i] = Activation(g[i], traits.Activation) * u[i];
            double[] d = MatVec(w.Down, g);                                // [dim]
            if (w.PostFfnNorm != null) d = Norm(d, w.PostFfnNorm);
            for (int i = 0; i < dim; i++) x[i] += d[i];
        }
        Position++;
        double[] logits = MatVec(_m.Output, Norm(x, _m.OutputNorm));       // [vocab]
        for (int i = 0; i < logits.Length; i++) logits[i] = SoftCap(logits[i], _c.FinalLogitSoftcap);
        return logits;
    }

    /// <summary>Logits [tokens.Length][vocab] of every position of a fresh sequence.</summary>
    public static double[][] AllLogits(LlamaModel model, ReadOnlySpan<int> tokens)
    {
        var r = new ReferenceForward(model);
        var result = new double[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++) result[i] = r.Step(tokens[i]);
        return result;
    }

    private static double SoftCap(double s, float cap) => cap > 0 ? Math.Tanh(s / cap) * cap : s;

    private static double Activation(double x, GatedActivation a)
    {
        if (a == GatedActivation.Silu) return x / (1 + Math.Exp(-x));
        // tanh GELU with ggml's f16 rounding of input and output; identity above 10, zero below −10.
        if (x <= -10) return 0;
        if (x >= 10) return x;
        double h = (double)(Half)x;
        double gelu = 0.5 * h * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (h + 0.044715 * h * h * h)));
        return (double)(Half)gelu;
    }

    private static void AddTo(double[] x, float[] b)
    {
        for (int i = 0; i < x.Length; i++) x[i] += b[i];
    }

    private double[] Norm(double[] x, float[] weight)
    {
        double ss = 0;
        foreach (double v in x) ss += v * v;
        double inv = 1.0 / Math.Sqrt(ss / x.Length + _c.RmsNormEps);
        var y = new double[x.Length];
        for (int i = 0; i < x.Length; i++) y[i] = x[i] * inv * weight[i];
        return y;
    }

    private void NormHeads(double[] x, int heads, float[] weight)
    {
        int hd = _c.HeadDim;
        for (int h = 0; h < heads; h++)
        {
            var normed = Norm(x[(h * hd)..((h + 1) * hd)], weight);
            Array.Copy(normed, 0, x, h * hd, hd);
        }
    }

    private void RotateHeads(double[] x, int heads, int pos, RopeParameters rope)
    {
        if (rope.Scaling == RopeScalingType.Yarn) throw new NotSupportedException("the reference pass does not implement YaRN");
        int half = rope.Dimensions / 2;
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < half; i++)
            {
                double freq = Math.Pow(rope.FreqBase, -2.0 * i / rope.Dimensions);
                double theta = pos * freq / (rope.FreqFactors?[i] ?? 1.0) * rope.FreqScale;
                double cos = Math.Cos(theta) * rope.AttnFactor, sin = Math.Sin(theta) * rope.AttnFactor;
                int a = h * _c.HeadDim + (rope.Style == RopeStyle.Neox ? i : 2 * i);
                int b = rope.Style == RopeStyle.Neox ? a + half : a + 1;
                double x0 = x[a], x1 = x[b];
                x[a] = x0 * cos - x1 * sin;
                x[b] = x0 * sin + x1 * cos;
            }
    }

    private static double[] Row(WeightMatrix w, int row)
    {
        var f = new float[w.Cols];
        w.DequantizeRow(row, f);
        return Array.ConvertAll(f, v => (double)v);
    }

    private static double[] MatVec(WeightMatrix w, double[] x)
    {
        var y = new double[w.Rows];
        var row = new float[w.Cols];
        for (int r = 0; r < w.Rows; r++)
        {
            w.DequantizeRow(r, row);
            double s = 0;
            for (int i = 0; i < w.Cols; i++) s += row[i] * x[i];
            y[r] = s;
        }
        return y;
    }
}
