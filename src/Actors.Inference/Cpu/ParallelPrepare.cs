using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;

namespace Actors.Inference.Cpu;

/// <summary>
/// Converts a step's activations for one weight type (<see cref="MatMul.PrepareTokens"/>) in token
/// ranges across the pool: a prefill quantizes hundreds of tokens before every product, which on the
/// calling thread alone left the others waiting. Each token's values depend on that token only.
/// </summary>
internal sealed class ParallelPrepare : IParallelWork
{
    /// <summary>Fewer tokens than this are converted inline: below it the fork-join costs more than it saves.</summary>
    private const int MinTokensPerChunk = 16;

    private float[] _x = [];
    private PreparedActivations _act = null!;
    private int _tokens, _perChunk;

    public void Run(CpuWorkerPool pool, GgmlType weightType, float[] x, int tokens, int cols, PreparedActivations act)
    {
        MatMul.PrepareShape(weightType, x.AsSpan(0, tokens * cols), tokens, cols, act);
        // Float activations are a copy (memory-bound, no faster on more threads); BF16's rounding and the quantizers are not.
        bool compute = weightType == GgmlType.BF16 || act.Kind != ActivationKind.Float;
        int chunks = compute ? Math.Min(pool.ThreadCount * 4, tokens / MinTokensPerChunk) : 1;
        if (chunks <= 1)
        {
            MatMul.PrepareTokens(x, act, 0, tokens);
            return;
        }
        _x = x;
        _act = act;
        _tokens = tokens;
        _perChunk = (tokens + chunks - 1) / chunks;
        pool.Run(chunks, this);
        _x = [];
        _act = null!;
    }

    public void Execute(int index)
    {
        int t0 = index * _perChunk, t1 = Math.Min(_tokens, t0 + _perChunk);
        if (t0 < t1) MatMul.PrepareTokens(_x, _act, t0, t1);
    }
}
