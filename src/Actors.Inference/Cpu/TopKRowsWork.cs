using Actors.Inference.Sampling;

namespace Actors.Inference.Cpu;

/// <summary>
/// <see cref="LogitTopK.Select"/> of every logit row of a step across the pool, a few rows per chunk, into
/// buffers of its own (a parallel run cannot hold the caller's spans), then copied out: rows·k entries.
/// </summary>
internal sealed class TopKRowsWork : IParallelWork
{
    private const int RowsPerChunk = 4; // a row of a 32k vocabulary is ~5 µs: chunks of a few rows pay for the hand-off
    private float[] _logits = [];
    private int _vocab, _rows, _k;
    private int[] _indices = [];
    private float[] _values = [];

    public void Run(CpuWorkerPool pool, float[] logits, int vocab, int rows, int k, Span<int> indices, Span<float> values)
    {
        if (_indices.Length < rows * k)
        {
            _indices = new int[rows * k];
            _values = new float[rows * k];
        }
        _logits = logits;
        _vocab = vocab;
        _rows = rows;
        _k = k;
        pool.Run((rows + RowsPerChunk - 1) / RowsPerChunk, this);
        _indices.AsSpan(0, rows * k).CopyTo(indices);
        _values.AsSpan(0, rows * k).CopyTo(values);
    }

    public void Execute(int index)
    {
        int end = Math.Min(_rows, (index + 1) * RowsPerChunk);
        for (int r = index * RowsPerChunk; r < end; r++)
            LogitTopK.Select(_logits.AsSpan(r * _vocab, _vocab), _k, _indices.AsSpan(r * _k, _k), _values.AsSpan(r * _k, _k));
    }
}
