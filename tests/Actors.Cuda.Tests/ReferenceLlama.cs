using Actors.Inference.Compute;
using Actors.Inference.Model;

namespace Actors.Cuda.Tests;

/// <summary>
/// A deliberately plain Llama forward pass over a paged KV pool, in float with double dot products,
/// as the ground truth for the CUDA stage executor. Weights are dequantised once with the
/// ReferenceQuantizer (via WeightMatrix.DequantizeRow); the pool has the executor's layout
/// ([slots, kv_dim] per layer, f16-rounded when the spec says F16), so the same StepBatch drives both.
/// </summary>
internal sealed class ReferenceLlama
{
    private readonly LlamaModel _m;
    private readonly LlamaConfig _c;
    private readonly KvCacheSpec _kv;
    private readonly Dictionary<WeightMatrix, float[]> _dense = new();
    private readonly float[][] _k, _v;

    public ReferenceLlama(LlamaModel model, KvCacheSpec kv)
    {
        _m = model;
        _c = model.Config;
        _kv = kv;
        _k = new float[_c.BlockCount][];
        _v = new float[_c.BlockCount][];
        for (int l = 0; l < _c.BlockCount; l++)
        {
            _k[l] = new float[kv.SlotCount * kv.KvDim];
            _v[l] = new float[kv.SlotCount * kv.KvDim];
        }
    }

    private float[] Dense(WeightMatrix w)
    {
        if (_dense.TryGetValue(w, out var d)) return d;
        d = new float[(long)w.Rows * w.Cols];
        for (int r = 0; r < w.Rows; r++) w.DequantizeRow(r, d.AsSpan(r * w.Cols, w.Cols));
        return _dense[w] = d;
    }

    /// <summary>y[rows] = W·x.</summary>
    private float[] MatVec(WeightMatrix w, ReadOnlySpan<float> x)
    {
        var d = Dense(w);
        var y = new float[w.Rows];
        for (int r = 0; r < w.Rows; r++)
        {
            double sum = 0;
            for (int k = 0; k < w.Cols; k++) sum += (double)d[(long)r * w.Cols + k] * x[k];
            y[r] = (float)sum;
        }
        return y;
    }

    /// <summary>Logits [LogitCount, vocab] of a batch, after running every layer (and updating the pool).</summary>
    public float[] Forward(StepBatch batch)
    {
        int t = batch.TokenCount, dim = _c.EmbeddingLength, hd = _c.HeadDim, kvDim = _c.KvDim;
        var x = new float[t][];
        for (int i = 0; i < t; i++)
        {
            x[i] = new float[dim];
            _m.TokenEmbedding.DequantizeRow(batch.Tokens[i], x[i]);
        }
        var rope = _c.Rope;
        var (low, high) = rope.ExtFactor != 0 ? rope.CorrectionDims() : (0f, 0f);
        for (int l = 0; l < _c.BlockCount; l++)
        {
            var w = _m.Layers[l];
            var q = new float[t][];
            for (int i = 0; i < t; i++)
            {
                var xn = new float[dim];
                Reference.RmsNorm(x[i], w.AttentionNorm, xn, _c.RmsNormEps);
                q[i] = MatVec(w.Query, xn);
                var k = MatVec(w.Key, xn);
                var v = MatVec(w.Value, xn);
                for (int h = 0; h < _c.HeadCount; h++)
                    Reference.Rope(q[i].AsSpan(h * hd, hd), batch.Positions[i], rope.Dimensions, rope.FreqBase, rope.FreqScale, rope.FreqFactors, rope.ExtFactor, rope.AttnFactor, low, high);
                for (int h = 0; h < _c.HeadCountKv; h++)
                    Reference.Rope(k.AsSpan(h * hd, hd), batch.Positions[i], rope.Dimensions, rope.FreqBase, rope.FreqScale, rope.FreqFactors, rope.ExtFactor, rope.AttnFactor, low, high);
                for (int j = 0; j < kvDim; j++)
                {
                    _k[l][(long)batch.Slots[i] * kvDim + j] = Store(k[j]);
                    _v[l][(long)batch.Slots[i] * kvDim + j] = Store(v[j]);
                }
            }
            for (int s = 0; s < batch.SequenceCount; s++)
            {
                for (int i = batch.QueryStart[s]; i < batch.QueryStart[s + 1]; i++)
                {
                    var attn = new float[_c.QueryDim];
                    for (int h = 0; h < _c.HeadCount; h++)
                        Reference.Attention(q[i].AsSpan(h * hd, hd), _k[l], _v[l], batch.BlockTable(s), _kv.BlockSize, _c.HeadCountKv, hd,
                            h / _c.GroupSize, batch.Positions[i], attn.AsSpan(h * hd, hd));
                    q[i] = attn; // keep the attention output of token i (its query is no longer needed)
                }
            }
            for (int i = 0; i < t; i++)
            {
                var o = MatVec(w.Output, q[i]);
                for (int d = 0; d < dim; d++) x[i][d] += o[d];
                var xn = new float[dim];
                Reference.RmsNorm(x[i], w.FfnNorm, xn, _c.RmsNormEps);
                var gate = MatVec(w.Gate, xn);
                var up = MatVec(w.Up, xn);
                for (int j = 0; j < gate.Length; j++) gate[j] = (float)(gate[j] / (1 + Math.Exp(-gate[j])) * up[j]);
                var down = MatVec(w.Down, gate);
                for (int d = 0; d < dim; d++) x[i][d] += down[d];
            }
        }
        var logits = new float[batch.LogitCount * _c.VocabSize];
        for (int r = 0; r < batch.LogitCount; r++)
        {
            var xn = new float[dim];
            Reference.RmsNorm(x[batch.LogitTokens[r]], _m.OutputNorm, xn, _c.RmsNormEps);
            MatVec(_m.Output, xn).CopyTo(logits.AsSpan(r * _c.VocabSize));
        }
        return logits;
    }

    private float Store(float value) => _kv.Type == KvCacheType.F16 ? (float)(Half)value : value;
}
