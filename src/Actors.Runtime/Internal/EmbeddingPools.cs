using System.Numerics.Tensors;
using Actors.Inference.Compute;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Internal;

/// <summary>
/// The last stage's running pools of embedding requests: as each prefill chunk of such a sequence passes,
/// its tokens' final-norm hidden states are added up (mean) or the latest kept (last); in the step that
/// holds the prompt's last token the pool becomes the L2-normalized embedding, left in the step's results.
/// Lives on the stage's device thread, like the samplers.
/// </summary>
internal sealed class EmbeddingPools
{
    private sealed class Accumulator(EmbeddingPooling pooling, int dim)
    {
        public readonly EmbeddingPooling Pooling = pooling;
        public readonly float[] Sum = new float[dim];
        public int Tokens;
    }

    private readonly Dictionary<long, Accumulator> _pools = new();
    private float[] _row = [];

    public int Count => _pools.Count;

    public void Start(long sequenceId, EmbeddingPooling pooling, int hiddenSize) => _pools[sequenceId] = new Accumulator(pooling, hiddenSize);

    public void Forget(long sequenceId) => _pools.Remove(sequenceId);

    /// <summary>Adds this step's tokens of every pooled sequence; finishes those whose logit row (the prompt's end) is in this step.</summary>
    public void Pool(IStageExecutor stage, StepWork work)
    {
        var batch = work.Batch;
        int dim = stage.HiddenSize;
        if (_row.Length < dim) _row = new float[dim];
        var row = _row.AsSpan(0, dim);
        for (int s = 0; s < batch.SequenceCount; s++)
        {
            if (!_pools.TryGetValue(work.SequenceIds[s], out var pool)) continue;
            int start = batch.QueryStart[s], end = batch.QueryStart[s + 1];
            int position = batch.Positions[start];
            if (position == 0) Reset(pool); // recomputed from the start after a preemption
            else if (position != pool.Tokens)
                throw new InvalidOperationException($"embedding of sequence {work.SequenceIds[s]} resumes at position {position} but pooled {pool.Tokens} tokens");
            if (pool.Pooling == EmbeddingPooling.Last)
            {
                stage.ReadNormedHidden(end - 1, pool.Sum);
                pool.Tokens = position + end - start;
                continue;
            }
            for (int t = start; t < end; t++)
            {
                stage.ReadNormedHidden(t, row);
                TensorPrimitives.Add(pool.Sum, row, pool.Sum);
            }
            pool.Tokens += end - start;
        }
        for (int i = 0; i < batch.LogitCount; i++)
        {
            long id = work.SequenceIds[work.LogitSequence[i]];
            if (!_pools.Remove(id, out var pool)) continue;
            work.Embeddings.Add((id, Finish(pool)));
        }
    }

    private static void Reset(Accumulator pool)
    {
        Array.Clear(pool.Sum);
        pool.Tokens = 0;
    }

    /// <summary>The mean (or the last token's state), scaled to unit length as llama.cpp's embedding examples and OpenAI return it.</summary>
    private static float[] Finish(Accumulator pool)
    {
        var vector = pool.Sum;
        if (pool.Pooling == EmbeddingPooling.Mean) TensorPrimitives.Multiply(vector, 1f / pool.Tokens, vector);
        float norm = TensorPrimitives.Norm(vector);
        if (norm > 0) TensorPrimitives.Multiply(vector, 1f / norm, vector);
        return vector;
    }
}
