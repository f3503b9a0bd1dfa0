using Actors.Inference.Compute;
using Actors.Inference.Model;

namespace Actors.Inference.Generation;

/// <summary>
/// Runs one sequence through a whole model without the scheduler, on one device or as a pipeline of
/// stages on several (hidden states copied from stage to stage): the `logits` command and the
/// numerics tests use it. Blocks are laid out consecutively.
/// </summary>
public sealed class SequenceRunner : IDisposable
{
    private readonly IStageExecutor[] _stages;
    private readonly StepBatch _batch = new();
    private readonly int _vocab;
    private float[] _a = [], _b = [];

    public int Position { get; private set; }
    public KvCacheSpec Kv { get; }
    public LlamaModel Model { get; }

    public SequenceRunner(IComputeDevice device, LlamaModel model, int contextLength = 0, int blockSize = 16, int maxBatchTokens = 512)
        : this([(device, new LayerRange(0, model.Config.BlockCount))], model, contextLength, blockSize, maxBatchTokens)
    {
    }

    /// <summary>A pipeline: each stage's layers on its device, in layer order, covering the model.</summary>
    public SequenceRunner(IReadOnlyList<(IComputeDevice Device, LayerRange Layers)> stages, LlamaModel model, int contextLength = 0, int blockSize = 16, int maxBatchTokens = 512)
    {
        var c = model.Config;
        contextLength = contextLength > 0 ? contextLength : c.ContextLength;
        Kv = new KvCacheSpec(blockSize, (contextLength + blockSize - 1) / blockSize, c.HeadCountKv, c.HeadDim);
        Model = model;
        _vocab = c.VocabSize;
        int next = 0;
        foreach (var (_, layers) in stages)
        {
            if (layers.Start != next) throw new ArgumentException($"stage layers must follow each other from 0; {layers} starts at {layers.Start}, expected {next}");
            next = layers.End;
        }
        if (next != c.BlockCount) throw new ArgumentException($"the stages cover layers 0-{next - 1} of the model's {c.BlockCount}");
        _stages = stages.Select(s => s.Device.LoadStage(model, s.Layers, Kv, maxBatchTokens)).ToArray();
    }

    public int ContextLength => Kv.BlockSize * Kv.NumBlocks;

    /// <summary>
    /// Feeds tokens at the next positions; returns logits [n or 1, vocab] for every token or only the last.
    /// <paramref name="batch"/>: the positions [Start, End) of the llama.cpp batch these tokens belong to, which
    /// fixes their multiplication orders (<see cref="BatchOrder"/>); by default the tokens fed now, as one
    /// llama_decode call of them would.
    /// </summary>
    public float[] Feed(ReadOnlySpan<int> tokens, bool allLogits, (int Start, int End)? batch = null)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to feed");
        if (Position + tokens.Length > ContextLength)
            throw new ArgumentException($"{Position + tokens.Length} tokens exceed the context of {ContextLength}");
        SequenceBatch.Create(tokens, Position, Kv, allLogits, _batch);
        if (batch is { } b) (_batch.BatchStart[0], _batch.BatchEnd[0]) = b;
        var logits = new float[_batch.LogitCount * _vocab];
        int hidden = tokens.Length * Model.Config.EmbeddingLength;
        if (_a.Length < hidden) { _a = new float[hidden]; _b = new float[hidden]; }
        ReadOnlySpan<float> input = ReadOnlySpan<float>.Empty;
        for (int s = 0; s < _stages.Length; s++)
        {
            if (_stages[s].IsLast)
            {
                _stages[s].Forward(_batch, input, logits);
                break;
            }
            var output = (s % 2 == 0 ? _a : _b).AsSpan(0, hidden);
            _stages[s].Forward(_batch, input, output);
            input = output;
        }
        Position += tokens.Length;
        return logits;
    }

    public void Reset() => Position = 0;

    public void Dispose()
    {
        foreach (var s in _stages) s.Dispose();
    }
}
