using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu;

/// <summary>
/// Runs up to three matrix products that share one input (Q/K/V, or gate/up) as one parallel
/// region, so all threads stay busy across them. Rows are split into chunks; every output row is
/// computed whole by one thread, so results do not depend on the split.
/// </summary>
internal sealed class ParallelMatMul : IParallelWork
{
    private const int MaxJobs = 3;
    private readonly WeightMatrix?[] _weights = new WeightMatrix?[MaxJobs];
    private readonly PreparedActivations?[] _acts = new PreparedActivations?[MaxJobs];
    private readonly float[]?[] _outputs = new float[]?[MaxJobs];
    private readonly int[] _chunkStart = new int[MaxJobs + 1];
    private readonly int[] _rowsPerChunk = new int[MaxJobs];
    private int _jobs;
    private int _tokens;

    public void Clear()
    {
        _jobs = 0;
        Array.Clear(_weights);
        Array.Clear(_acts);
        Array.Clear(_outputs);
    }

    /// <summary>Adds y[t × w.Rows + r] = W[r]·x[t]; <paramref name="output"/> holds tokens × w.Rows floats.</summary>
    public void Add(WeightMatrix w, PreparedActivations act, float[] output)
    {
        _weights[_jobs] = w;
        _acts[_jobs] = act;
        _outputs[_jobs] = output;
        _jobs++;
    }

    public void Run(CpuWorkerPool pool, int tokens)
    {
        _tokens = tokens;
        int total = 0;
        for (int j = 0; j < _jobs; j++)
        {
            int rows = _weights[j]!.Rows;
            // Enough chunks per thread to balance uneven speeds, few enough to keep chunks large.
            int chunks = Math.Clamp(rows / 16, 1, pool.ThreadCount * 8);
            _rowsPerChunk[j] = (rows + chunks - 1) / chunks;
            // Repacked weights come in groups of rows: a chunk of whole groups computes no group twice.
            if (_weights[j]!.Repacked != null) _rowsPerChunk[j] = (_rowsPerChunk[j] + RepackedWeights.GroupRows - 1) / RepackedWeights.GroupRows * RepackedWeights.GroupRows;
            _chunkStart[j] = total;
            total += (rows + _rowsPerChunk[j] - 1) / _rowsPerChunk[j];
        }
        _chunkStart[_jobs] = total;
        pool.Run(total, this);
    }

    public void Execute(int index)
    {
        int j = 0;
        while (index >= _chunkStart[j + 1]) j++;
        var w = _weights[j]!;
        int start = (index - _chunkStart[j]) * _rowsPerChunk[j];
        int end = Math.Min(w.Rows, start + _rowsPerChunk[j]);
        MatMul.Compute(w, _acts[j]!, _tokens, _outputs[j], w.Rows, start, end);
    }
}
