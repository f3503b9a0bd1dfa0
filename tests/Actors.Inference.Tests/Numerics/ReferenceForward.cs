using Actors.Inference.Model;

namespace Actors.Inference.Tests.Numerics;

/// <summary>
/// A naive Llama forward pass in double precision for one sequence, written to be read, not to be
/// fast: dense per-layer K/V arrays, plain loops, weights decoded row by row with the reference
/// decoders. Every backend is tested against it. RoPE follows llama.cpp's "normal" mode (adjacent
/// pairs), angles θ_i = pos · base^(−2i/n_rot) / freq_factor_i · freq_scale.
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

        double[] x = Row(_m.TokenEmbedding, token);                       // [dim] residual stream
        for (int l = 0; l < _c.BlockCount; l++)
        {
            var w = _m.Layers[l];
            double[] xb = Norm(x, w.AttentionNorm);                        // [dim]
            double[] q = MatVec(w.Query, xb);                              // [heads * hd]
            double[] k = MatVec(w.Key, xb);                                // [kvHeads * hd]
            double[] v = MatVec(w.Value, xb);                              // [kvHeads * hd]
            RotateHeads(q, _c.HeadCount, pos);
            RotateHeads(k, _c.HeadCountKv, pos);
            _keys[l][pos] = k;
            _values[l][pos] = v;

            double[] att = new double[_c.QueryDim];                        // [heads * hd]
            double scale = 1.0 / Math.Sqrt(hd);
            for (int h = 0; h < _c.HeadCount; h++)
            {
                int kvh = h / _c.GroupSize;
                double[] scores = new double[pos + 1];                     // [pos + 1]
                double max = double.NegativeInfinity;
                for (int j = 0; j <= pos; j++)
                {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += q[h * hd + i] * _keys[l][j][kvh * hd + i];
                    scores[j] = s * scale;
                    max = Math.Max(max, scores[j]);
                }
                double sum = 0;
                for (int j = 0; j <= pos; j++) { scores[j] = Math.Exp(scores[j] - max); sum += scores[j]; }
                for (int j = 0; j <= pos; j++)
                    for (int i = 0; i < hd; i++) att[h * hd + i] += scores[j] / sum * _values[l][j][kvh * hd + i];
            }
            double[] o = MatVec(w.Output, att);                            // [dim]
            for (int i = 0; i < dim; i++) x[i] += o[i];

            xb = Norm(x, w.FfnNorm);                                       // [dim]
            double[] g = MatVec(w.Gate, xb);                               // [ffn]
            double[] u = MatVec(w.Up, xb);                                 // [ffn]
            for (int i = 0; i < g.Length; i++) g[i] = g[i] / (1 + Math.Exp(-g[i])) * u[i];
            double[] d = MatVec(w.Down, g);                                // [dim]
            for (int i = 0; i < dim; i++) x[i] += d[i];
        }
        Position++;
        return MatVec(_m.Output, Norm(x, _m.OutputNorm));                  // [vocab]
    }

    /// <summary>Logits [tokens.Length][vocab] of every position of a fresh sequence.</summary>
    public static double[][] AllLogits(LlamaModel model, ReadOnlySpan<int> tokens)
    {
        var r = new ReferenceForward(model);
        var result = new double[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++) result[i] = r.Step(tokens[i]);
        return result;
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

    private void RotateHeads(double[] x, int heads, int pos)
    {
        var rope = _c.Rope;
        if (rope.Scaling == RopeScalingType.Yarn) throw new NotSupportedException("the reference pass does not implement YaRN");
        for (int h = 0; h < heads; h++)
            for (int i = 0; i < rope.Dimensions / 2; i++)
            {
                double freq = Math.Pow(rope.FreqBase, -2.0 * i / rope.Dimensions);
                double theta = pos * freq / (rope.FreqFactors?[i] ?? 1.0) * rope.FreqScale;
                int a = h * _c.HeadDim + 2 * i;
                double x0 = x[a], x1 = x[a + 1];
                x[a] = x0 * Math.Cos(theta) - x1 * Math.Sin(theta);
                x[a + 1] = x0 * Math.Sin(theta) + x1 * Math.Cos(theta);
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
