using Actors.Inference.Cpu.Ops;
using Actors.Inference.Model;
using System.Numerics.Tensors;

namespace Actors.Inference.Cpu;

/// <summary>
/// Element-wise and per-token operations (norm, per-head norm, RoPE, SwiGLU/GeGLU, residual add) split by token rows
/// across the pool when the batch is large enough to pay for it.
/// </summary>
internal sealed class TokenRowsWork : IParallelWork
{
    private const int ParallelThreshold = 8; // below this many tokens a single thread is faster

    private enum Op { Norm, HeadNorm, Rope, SwiGlu, GeGlu }

    private Op _op;
    private float[] _a = null!, _b = null!, _c = null!, _d = null!;
    private float[]? _w, _w2;
    private RopeStyle _style;
    private float _eps;
    private int _width, _heads, _kvHeads, _headDim, _half, _tokens, _chunk;

    public void Norm(CpuWorkerPool pool, float[] x, float[] y, float[] weight, float eps, int tokens, int dim)
    {
        _op = Op.Norm; _a = x; _b = y; _w = weight; _eps = eps; _width = dim;
        Run(pool, tokens);
    }

    /// <summary>RMS norm of every head of q [T, heads·headDim] and k [T, kvHeads·headDim] in place, with weights [headDim].</summary>
    public void HeadNorm(CpuWorkerPool pool, float[] q, float[] k, float[] qWeight, float[] kWeight, float eps, int tokens, int heads, int kvHeads, int headDim)
    {
        _op = Op.HeadNorm; _a = q; _b = k; _w = qWeight; _w2 = kWeight; _eps = eps; _heads = heads; _kvHeads = kvHeads; _headDim = headDim;
        Run(pool, tokens);
    }

    public void Rope(CpuWorkerPool pool, float[] q, float[] k, float[] cos, float[] sin, int tokens, int heads, int kvHeads, int headDim, int half, RopeStyle style)
    {
        _op = Op.Rope; _a = q; _b = k; _c = cos; _d = sin; _heads = heads; _kvHeads = kvHeads; _headDim = headDim; _half = half; _style = style;
        Run(pool, tokens);
    }

    public void SwiGlu(CpuWorkerPool pool, float[] gate, float[] up, int tokens, int ffn)
    {
        _op = Op.SwiGlu; _a = gate; _b = up; _width = ffn;
        Run(pool, tokens);
    }

    public void GeGlu(CpuWorkerPool pool, float[] gate, float[] up, int tokens, int ffn)
    {
        _op = Op.GeGlu; _a = gate; _b = up; _width = ffn;
        Run(pool, tokens);
    }

    /// <summary>x[i] += y[i] for i &lt; count.</summary>
    public void Add(CpuWorkerPool pool, float[] x, float[] y, int count)
    {
        TensorPrimitives.Add(x.AsSpan(0, count), y.AsSpan(0, count), x.AsSpan(0, count));
    }

    private void Run(CpuWorkerPool pool, int tokens)
    {
        _tokens = tokens;
        if (tokens < ParallelThreshold || pool.ThreadCount == 1)
        {
            _chunk = tokens;
            Execute(0);
            return;
        }
        int chunks = Math.Min(tokens, pool.ThreadCount * 4);
        _chunk = (tokens + chunks - 1) / chunks;
        pool.Run((tokens + _chunk - 1) / _chunk, this);
    }

    public void Execute(int index)
    {
        int start = index * _chunk, end = Math.Min(_tokens, start + _chunk);
        for (int t = start; t < end; t++)
        {
            switch (_op)
            {
                case Op.Norm:
                    RmsNorm.Apply(_a.AsSpan(t * _width, _width), _w, _eps, _b.AsSpan(t * _width, _width));
                    break;
                case Op.Rope:
                    var cos = _c.AsSpan(t * _half, _half);
                    var sin = _d.AsSpan(t * _half, _half);
                    Ops.Rope.Apply(_a.AsSpan(t * _heads * _headDim, _heads * _headDim), _heads, _headDim, cos, sin, _style);
                    Ops.Rope.Apply(_b.AsSpan(t * _kvHeads * _headDim, _kvHeads * _headDim), _kvHeads, _headDim, cos, sin, _style);
                    break;
                case Op.HeadNorm:
                    for (int h = 0; h < _heads; h++)
                    {
                        var v = _a.AsSpan((t * _heads + h) * _headDim, _headDim);
                        RmsNorm.Apply(v, _w, _eps, v);
                    }
                    for (int h = 0; h < _kvHeads; h++)
                    {
                        var v = _b.AsSpan((t * _kvHeads + h) * _headDim, _headDim);
                        RmsNorm.Apply(v, _w2, _eps, v);
                    }
                    break;
                case Op.GeGlu:
                    Ops.GeluGlu.ApplyInPlace(_a.AsSpan(t * _width, _width), _b.AsSpan(t * _width, _width));
                    break;
                case Op.SwiGlu:
                    Ops.SwiGlu.ApplyInPlace(_a.AsSpan(t * _width, _width), _b.AsSpan(t * _width, _width));
                    break;
            }
        }
    }
}
