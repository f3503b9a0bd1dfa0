using Akka.Actor;
using Actors.Inference.Compute;

namespace Actors.Runtime.Internal;

/// <summary>Sampling state to create for a sequence the last stage has not seen yet.</summary>
/// <param name="Pooling">Set for an embedding request: the last stage pools its prompt's final hidden states.</param>
internal sealed record SequenceSetup(long SequenceId, Protocol.SamplingOptions Sampling, int[] PromptTokens, Protocol.EmbeddingPooling? Pooling = null);

/// <summary>
/// One scheduled step travelling through a replica's pipeline: the flattened batch, the sequences
/// it holds, KV-block maintenance every stage applies first (copy-on-write copies, swaps), and, once
/// the last stage has sampled, the results. Pooled by the scheduler actor (one per in-flight step);
/// local only, never serialized.
/// </summary>
internal sealed class StepWork : INoSerializationVerificationNeeded
{
    public long StepId;
    public int Replica;
    public readonly StepBatch Batch = new();
    /// <summary>Sequence id of each sequence in the batch [Batch.SequenceCount].</summary>
    public long[] SequenceIds = [];
    /// <summary>For each logit row, the index of its sequence in the batch [Batch.LogitCount].</summary>
    public int[] LogitSequence = [];
    public readonly List<SequenceSetup> NewSequences = new();
    public readonly List<long> ForgetSequences = new();
    public readonly List<(int Source, int Destination)> BlockCopies = new();
    /// <summary>Copy-on-write copies in the sliding-window layers' own pool.</summary>
    public readonly List<(int Source, int Destination)> SlidingBlockCopies = new();
    /// <summary>Blocks to copy to host swap slots before the forward pass (preemption by swap).</summary>
    public readonly List<(int Block, int HostSlot)> SwapOut = new();
    /// <summary>Host swap slots to copy back into blocks before the forward pass.</summary>
    public readonly List<(int Block, int HostSlot)> SwapIn = new();
    /// <summary>KV of migrated sequences to write, per stage: blocks and their bytes (from another replica).</summary>
    public readonly List<KvWrite> KvWrites = new();
    /// <summary>Samplers of migrated sequences for the last stage to adopt (their RNG state moves with them).</summary>
    public readonly List<(long SequenceId, SequenceSampling Sampler)> InstallSamplers = new();
    /// <summary>A step that only carries maintenance (imports) and is not one of the policy's steps.</summary>
    public bool MaintenanceOnly;

    // Results, written by the last stage.
    public int[] Sampled = [];
    public float[] SampledLogProbs = [];
    /// <summary>Per logit row, up to <see cref="Inference.Sampling.SamplingParameters.MaxTopLogProbs"/> alternatives [LogitCount x 20] and how many [LogitCount].</summary>
    public int[] TopTokens = [];
    public float[] TopLogProbs = [];
    public int[] TopCounts = [];
    /// <summary>Pooled, normalized embeddings of the embedding requests whose prompt ended in this step.</summary>
    public readonly List<(long SequenceId, float[] Vector)> Embeddings = new();
    public double[] StageSeconds = [];
    /// <summary>
    /// Logit rows the last stage could not sample (non-finite logits): <see cref="Sampled"/> is -1 there
    /// and <see cref="RowErrors"/> says why; <see cref="FailedRows"/> counts them (0 on a healthy step,
    /// which then reads nothing more).
    /// </summary>
    public int FailedRows;
    public string?[] RowErrors = [];
    /// <summary>Stopwatch timestamp of the dispatch, for the step watchdog (real time even on a virtual clock).</summary>
    public long DispatchedTicks;
    /// <summary>When the scheduler dispatched the step, on its clock.</summary>
    public double DispatchedAt;
    /// <summary>
    /// Simulated runs: when the step's data is ready for the next hop on the cost model's timeline
    /// (dispatch, then each stage's end and each transfer's arrival); the scheduler's virtual clock
    /// advances to it when the step completes. A real run never moves it past the dispatch time.
    /// </summary>
    public double ReadyAt;

    public void EnsureCapacity(int sequences, int logits, int stages)
    {
        if (SequenceIds.Length < sequences) SequenceIds = new long[Math.Max(sequences, SequenceIds.Length * 2)];
        if (LogitSequence.Length < logits)
        {
            int n = Math.Max(logits, LogitSequence.Length * 2);
            LogitSequence = new int[n];
            Sampled = new int[n];
            SampledLogProbs = new float[n];
            TopTokens = new int[n * Inference.Sampling.SamplingParameters.MaxTopLogProbs];
            TopLogProbs = new float[n * Inference.Sampling.SamplingParameters.MaxTopLogProbs];
            TopCounts = new int[n];
            RowErrors = new string?[n];
        }
        if (StageSeconds.Length < stages) StageSeconds = new double[stages];
    }

    public void ResetMaintenance()
    {
        NewSequences.Clear();
        ForgetSequences.Clear();
        BlockCopies.Clear();
        SlidingBlockCopies.Clear();
        SwapOut.Clear();
        SwapIn.Clear();
        KvWrites.Clear();
        InstallSamplers.Clear();
        Embeddings.Clear();
        MaintenanceOnly = false;
        FailedRows = 0;
    }
}

/// <summary>A migrated sequence's KV for one stage: where it goes, its bytes, the path it crossed and the read time spent.</summary>
internal sealed record KvWrite(int Stage, int[] Blocks, byte[][] Data, Transfer.TransferPath Path, double ReadSeconds);

