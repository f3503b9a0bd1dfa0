using Actors.Inference.Compute;
using Actors.Simulation.Catalog;

namespace Actors.Simulation.Cost;

/// <summary>
/// Roofline time of transformer work on one device. Every operation costs
/// max(bytes / (bandwidth × efficiency), FLOPs / (peak × efficiency)) plus a fixed cost per kernel.
/// Pure functions of their arguments, so the analytic planner and the event-driven simulation share it.
///
/// What a step of a stage moves and computes, per layer, for T tokens over a tensor-parallel degree n:
/// - matmuls: every weight read once per step whatever the batch (W/n bytes); 2·W/n·T FLOPs;
///   activations in and out of each projection.
/// - attention: K and V of every context token read once per sequence, the new tokens' K and V
///   written; 4·(heads/n)·head_dim FLOPs per (query, key) pair (QKᵀ and PV).
/// - elementwise (norms, RoPE, SiLU·up, residual adds): activation traffic only.
/// The first stage gathers embedding rows; the last applies the final norm and the output head to
/// its logit rows. Two all-reduces per layer when n &gt; 1 (after o_proj and after down_proj).
/// </summary>
public sealed class RooflineCostModel(RooflineOptions? options = null)
{
    public RooflineOptions Options { get; } = options ?? RooflineOptions.Default;

    /// <summary>The roofline of one operation, without launch cost.</summary>
    public static double RooflineSeconds(GpuSpec device, double bytes, double flops)
        => Math.Max(bytes / device.EffectiveBandwidth, flops / device.EffectiveFlops);

    /// <summary>
    /// The roofline of a matmul of <paramref name="weightCount"/> weights in <paramref name="weights"/>, in
    /// rows of <paramref name="rowLength"/> (0: unknown), with <paramref name="tokens"/> tokens: moving its
    /// bytes or its arithmetic, whichever takes longer. Where the device has a kernel for the format, the
    /// kernel's own model instead: the read overlaps only the first pass (<see cref="MatmulKernel.Seconds"/>).
    /// </summary>
    public static double MatmulRooflineSeconds(GpuSpec device, WeightFormat weights, double bytes, double weightCount, double tokens, int rowLength = 0)
    {
        double weightBytes = weights.BytesPerWeight * weightCount;
        double read = device.WeightReadSeconds(weights, weightBytes, rowLength) + Math.Max(0, bytes - weightBytes) / device.EffectiveBandwidth;
        return device.MatmulKernels.TryGetValue(weights.Name, out var kernel)
            ? kernel.Seconds(weightCount, tokens, rowLength, read)
            : Math.Max(read, device.MatmulComputeSeconds(weights, weightCount, tokens));
    }

    /// <summary>One operation: roofline plus <paramref name="kernels"/> launches.</summary>
    public static double OperationSeconds(GpuSpec device, double bytes, double flops, int kernels = 1)
        => RooflineSeconds(device, bytes, flops) + kernels * device.LaunchOverheadSeconds;

    /// <summary>A transfer on an idle link: latency + bytes / achieved bandwidth.</summary>
    public static double TransferSeconds(LinkSpec link, long bytes) => link.TransferSeconds(bytes);

    /// <summary>
    /// One step of layers <paramref name="layers"/> of <paramref name="model"/> for <paramref name="batch"/>
    /// on one device of a tensor-parallel group of <paramref name="tensorParallel"/> devices joined by
    /// <paramref name="tensorLink"/> (required when the degree is above 1).
    /// </summary>
    public StepCost StageStep(ModelShape model, WeightFormat weights, LayerRange layers, bool isFirst, bool isLast,
        BatchShape batch, GpuSpec device, int tensorParallel = 1, LinkSpec? tensorLink = null,
        AllReduceAlgorithm allReduce = AllReduceAlgorithm.Ring)
    {
        if (tensorParallel < 1) throw new ArgumentOutOfRangeException(nameof(tensorParallel), tensorParallel, "must be at least 1");
        if (tensorParallel > 1 && tensorLink is null) throw new ArgumentException("tensor parallelism needs the link between the group's devices", nameof(tensorLink));
        var c = model.Config;
        double n = tensorParallel;
        double a = Options.ActivationBytes;
        double kvBytes = Options.KvElementBytes;
        int L = layers.Count;
        double T = batch.TokenCount;
        double h = c.EmbeddingLength, q = c.QueryDim, kv = c.KvDim, ff = c.FeedForwardLength;

        // Matmuls of one layer. Activations: inputs and outputs of qkv, o, gate/up and down.
        double matWeights = model.MatrixWeightsPerLayer / n;
        double matBytes = weights.BytesPerWeight * matWeights + T * a * (h + (q + 2 * kv) / n + q / n + h + h + 2 * ff / n + ff / n + h);
        double matFlops = 2 * matWeights * T;
        double matmul = L * (device.MatmulKernels.ContainsKey(weights.Name)
            ? LayerMatmulsByRowLength(device, weights, T, a, h, q, kv, ff, n)
            : MatmulRooflineSeconds(device, weights, matBytes, matWeights, T));

        // Attention: read cached K and V of every context token, write the new ones, read Q and write O.
        double attnBytes = LayerTraffic.AttentionBytes(batch.ContextTokens, T, q, kv, n, kvBytes, a);
        double attnFlops = LayerTraffic.AttentionFlops(batch.AttentionPairs, q, n);
        double attention = L * device.AttentionSeconds(attnBytes, attnFlops);

        // Norms (read h, write h, twice), RoPE on q and k, SiLU·up (read 2ff, write ff), two residual adds.
        double eltBytes = LayerTraffic.ElementwiseBytes(T, h, q, kv, ff, n, a);
        double elementwise = L * device.ElementwiseSeconds(eltBytes);

        int kernels = L * Options.KernelsPerLayer;
        double edgeBytes = 0, edgeFlops = 0, edge = 0;
        if (isFirst)
        {
            double gather = T * h * (weights.BytesPerWeight + a);
            edgeBytes += gather;
            edge += RooflineSeconds(device, gather, 0);
            kernels += 1;
        }
        if (isLast)
        {
            double rows = batch.LogitRows;
            double head = weights.BytesPerWeight * model.OutputWeights / n + rows * h * a * 2 + rows * c.VocabSize / n * 4;
            double headFlops = 2 * rows * model.OutputWeights / n;
            edgeBytes += head;
            edgeFlops += headFlops;
            edge += MatmulRooflineSeconds(device, weights, head, model.OutputWeights / n, rows, c.EmbeddingLength);
            kernels += 2;
        }

        double collective = 0;
        if (tensorParallel > 1)
        {
            double hiddenBytes = T * h * a;
            collective += 2 * L * Collectives.AllReduceSeconds(tensorLink!, tensorParallel, hiddenBytes, Options, allReduce);
            // A vocab-parallel embedding sums partial rows; a vocab-parallel head gathers F32 logits.
            if (isFirst) collective += Collectives.AllReduceSeconds(tensorLink!, tensorParallel, hiddenBytes, Options, allReduce);
            if (isLast) collective += Collectives.AllGatherSeconds(tensorLink!, tensorParallel, (double)batch.LogitRows * c.VocabSize * 4, Options);
        }

        return new StepCost(
            MatmulSeconds: matmul,
            AttentionSeconds: attention,
            ElementwiseSeconds: elementwise,
            EmbeddingAndHeadSeconds: edge,
            LaunchSeconds: kernels * device.LaunchOverheadSeconds,
            CollectiveSeconds: collective,
            BytesMoved: L * (matBytes + attnBytes + eltBytes) + edgeBytes,
            Flops: L * (matFlops + attnFlops) + edgeFlops);
    }

    /// <summary>
    /// One layer's matmuls as separate kernels, each on its own row length (a CPU kernel's rates depend
    /// on it): q/k/v and gate/up read rows of h, o rows of q/n and down rows of ff/n (row-parallel under
    /// tensor parallelism). Activations in and out of each, as in the lumped form.
    /// </summary>
    private static double LayerMatmulsByRowLength(GpuSpec device, WeightFormat weights, double T, double a, double h, double q, double kv, double ff, double n)
    {
        double Kernel(double weightCount, double ioValues, double rowLength)
            => MatmulRooflineSeconds(device, weights, weights.BytesPerWeight * weightCount + T * a * ioValues, weightCount, T, (int)Math.Round(rowLength));
        return Kernel(h * (q + 2 * kv) / n, h + (q + 2 * kv) / n, h)
            + Kernel(q / n * h, q / n + h, q / n)
            + Kernel(h * 2 * ff / n, h + 2 * ff / n, h)
            + Kernel(ff / n * h, ff / n + h, ff / n);
    }

    /// <summary>Bytes of hidden state crossing a pipeline boundary for <paramref name="tokens"/> tokens.</summary>
    public long BoundaryBytes(ModelShape model, int tokens) => (long)tokens * model.Dim * Options.ActivationBytes;

    /// <summary>Weight bytes a stage holds on one device of its tensor-parallel group.</summary>
    public static long StageWeightBytes(ModelShape model, WeightFormat weights, LayerRange layers, bool isFirst, bool isLast, int tensorParallel = 1)
    {
        double matrices = layers.Count * (double)model.MatrixWeightsPerLayer;
        if (isFirst) matrices += model.EmbeddingWeights;
        if (isLast) matrices += model.OutputWeights;
        double norms = 4.0 * (layers.Count * model.NormWeightsPerLayer + (isLast ? model.Dim : 0));
        return (long)Math.Ceiling(matrices * weights.BytesPerWeight / tensorParallel + norms);
    }
}
