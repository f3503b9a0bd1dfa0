using Actors.Inference.Compute;
using Actors.Inference.Model;

namespace Actors.Inference.Generation;

/// <summary>
/// Runs one sequence through a whole model on one device without the scheduler: the `logits`
/// command and the numerics tests use it. Blocks are laid out consecutively.
/// </summary>
public sealed class SequenceRunner : IDisposable
{
    private readonly IStageExecutor _stage;
    private readonly StepBatch _batch = new();
    private readonly int _vocab;

    public int Position { get; private set; }
    public KvCacheSpec Kv { get; }
    public LlamaModel Model { get; }

    public SequenceRunner(IComputeDevice device, LlamaModel model, int contextLength = 0, int blockSize = 16, int maxBatchTokens = 512)
    {
        var c = model.Config;
        contextLength = contextLength > 0 ? contextLength : c.ContextLength;
        Kv = new KvCacheSpec(blockSize, (contextLength + blockSize - 1) / blockSize, c.HeadCountKv, c.HeadDim);
        Model = model;
        _vocab = c.VocabSize;
        _stage = device.LoadStage(model, new LayerRange(0, c.BlockCount), Kv, maxBatchTokens);
    }

    public int ContextLength => Kv.BlockSize * Kv.NumBlocks;

    /// <summary>Feeds tokens at the next positions; returns logits [n or 1, vocab] for every token or only the last.</summary>
    public float[] Feed(ReadOnlySpan<int> tokens, bool allLogits)
    {
        if (tokens.IsEmpty) throw new ArgumentException("no tokens to feed");
        if (Position + tokens.Length > ContextLength)
            throw new ArgumentException($"{Position + tokens.Length} tokens exceed the context of {ContextLength}");
        SequenceBatch.Create(tokens, Position, Kv, allLogits, _batch);
        var logits = new float[_batch.LogitCount * _vocab];
        _stage.Forward(_batch, ReadOnlySpan<float>.Empty, logits);
        Position += tokens.Length;
        return logits;
    }

    public void Reset() => Position = 0;

    public void Dispose() => _stage.Dispose();
}
