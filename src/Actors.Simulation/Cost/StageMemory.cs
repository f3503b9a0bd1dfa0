using Actors.Simulation.Catalog;

namespace Actors.Simulation.Cost;

/// <summary>
/// What a stage occupies on a device besides its weights, shared by the simulated device (which
/// refuses stages that do not fit) and the planner (which reports by how much).
/// </summary>
public static class StageMemory
{
    /// <summary>Fixed runtime buffers per stage (transfer staging, sampler state), beyond the GPU's reserve.</summary>
    public const long FixedBytes = 64L << 20;

    /// <summary>
    /// Activations of the widest layer for <paramref name="maxBatchTokens"/> tokens (hidden, q/k/v,
    /// gate/up/act) plus F32 logits on the last stage.
    /// </summary>
    public static long WorkspaceBytes(ModelShape model, RooflineOptions options, int maxBatchTokens, bool isLast, int tensorParallel = 1)
    {
        var c = model.Config;
        long a = options.ActivationBytes;
        long work = maxBatchTokens * a * (4L * c.EmbeddingLength + (3L * c.FeedForwardLength + c.QueryDim + 2L * c.KvDim) / tensorParallel);
        if (isLast) work += (long)maxBatchTokens * c.VocabSize * 4 / tensorParallel;
        return work + FixedBytes;
    }

    /// <summary>
    /// KV bytes of <paramref name="sequences"/> sequences of <paramref name="context"/> tokens in
    /// <paramref name="layers"/> on one TP rank, per layer: a sliding-window layer keeps only its window.
    /// </summary>
    public static long KvBytes(ModelShape model, RooflineOptions options, Inference.Compute.LayerRange layers, long sequences, long context, int tensorParallel = 1)
        => sequences * model.KvBytesPerSequence(context, options.KvElementBytes, layers) / tensorParallel;
}
