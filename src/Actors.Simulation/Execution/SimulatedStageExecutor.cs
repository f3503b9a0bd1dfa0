using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Simulation;

/// <summary>
/// A stage that computes nothing heavy. <see cref="Forward"/> validates the batch, keeps the KV
/// bookkeeping, writes placeholders (hidden rows carry the token id and position in their first two
/// floats so later stages can seed from them) or synthetic logits, and records how long the step
/// would take on <see cref="Device"/> per the roofline model in <see cref="LastStepSeconds"/>, which
/// the runtime's virtual clock advances by.
///
/// KV blocks are real enough for swap and migration paths: each block holds a 64-bit signature that
/// every token written into it mixes into. <see cref="ReadKvBlock"/> emits the signature followed by
/// a repetition of it (KvBlockBytes in all, the true size, so transfer accounting is honest);
/// <see cref="WriteKvBlock"/> restores it from the first 8 bytes. A round trip is exact.
/// </summary>
public sealed class SimulatedStageExecutor : IStageExecutor, ITimedStage
{
    private readonly ulong[] _blockSignature;
    private readonly Action<SimulatedStageExecutor>? _onDispose;

    public ModelShape Model { get; }
    public WeightFormat Weights { get; }
    public GpuSpec Device { get; }
    public RooflineCostModel CostModel { get; }
    public SyntheticOutput Output { get; }
    public int TensorParallel { get; }
    public LinkSpec? TensorLink { get; }

    public LayerRange Layers { get; }
    public bool IsFirst => Layers.Start == 0;
    public bool IsLast => Layers.End == Model.Layers;
    public int HiddenSize => Model.Dim;
    public int VocabSize => Model.Config.VocabSize;
    public KvCacheSpec Kv { get; }
    public int KvBlockBytes { get; }

    /// <summary>Virtual seconds the last <see cref="Forward"/> would have taken.</summary>
    public double LastStepSeconds { get; private set; }
    public StepCost LastStepCost { get; private set; } = StepCost.Zero;
    public double TotalSeconds { get; private set; }
    public long StepCount { get; private set; }

    public SimulatedStageExecutor(LlamaConfig config, WeightFormat weights, LayerRange layers, KvCacheSpec kv, GpuSpec device,
        RooflineCostModel? cost = null, SyntheticOutput? output = null, int tensorParallel = 1, LinkSpec? tensorLink = null)
        : this(new ModelShape("model", config), weights, layers, kv, device, cost, output, tensorParallel, tensorLink, null)
    {
    }

    public SimulatedStageExecutor(ModelShape model, WeightFormat weights, LayerRange layers, KvCacheSpec kv, GpuSpec device,
        RooflineCostModel? cost = null, SyntheticOutput? output = null, int tensorParallel = 1, LinkSpec? tensorLink = null,
        Action<SimulatedStageExecutor>? onDispose = null)
    {
        if (layers.Start < 0 || layers.End > model.Layers || layers.Count <= 0)
            throw new ArgumentOutOfRangeException(nameof(layers), layers, $"must lie within the model's {model.Layers} layers");
        if (kv.KvHeads * kv.HeadDim * tensorParallel != model.Config.KvDim)
            throw new ArgumentException($"KV spec has {kv.KvHeads} heads of {kv.HeadDim}; the model needs {model.Config.HeadCountKv} of {model.Config.HeadDim} split over {tensorParallel} device(s)", nameof(kv));
        long blockBytes = kv.BlockBytesPerLayer * layers.Count;
        if (blockBytes > int.MaxValue) throw new ArgumentException($"a KV block of {blockBytes} bytes is too large to copy in one span", nameof(kv));
        Model = model;
        Weights = weights;
        Layers = layers;
        Kv = kv;
        Device = device;
        CostModel = cost ?? new RooflineCostModel();
        Output = output ?? new SyntheticOutput();
        TensorParallel = tensorParallel;
        TensorLink = tensorLink;
        KvBlockBytes = (int)blockBytes;
        _blockSignature = new ulong[kv.NumBlocks];
        _onDispose = onDispose;
    }

    public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
    {
        batch.Validate(Kv, VocabSize);
        int need = ((IStageExecutor)this).OutputLength(batch);
        if (output.Length < need) throw new ArgumentException($"output holds {output.Length} floats; this step writes {need}", nameof(output));
        WriteKv(batch, hiddenIn);

        if (IsLast)
        {
            for (int i = 0; i < batch.LogitCount; i++)
            {
                var (token, position) = Identity(batch, hiddenIn, batch.LogitTokens[i]);
                Output.WriteLogits(token, position, output.Slice(i * VocabSize, VocabSize));
            }
        }
        else
        {
            output[..need].Clear();
            for (int t = 0; t < batch.TokenCount; t++)
            {
                var (token, position) = Identity(batch, hiddenIn, t);
                output[t * HiddenSize] = token;
                output[t * HiddenSize + 1] = position;
            }
        }
        Book(batch);
    }

    /// <summary>The last stage offers top-k rows (the argmax a GPU runs where the logits are).</summary>
    public int MaxLogitTopK => IsLast ? Math.Min(64, VocabSize) : 0;

    /// <summary>
    /// As <see cref="Forward"/> on the last stage, but each row's top-k of the synthetic logits, computed from the
    /// few ids they set instead of writing and scanning the row. Costed as <see cref="Forward"/>: the model's head
    /// writes its logits on the device either way (the cost model does not book the copy of logits to the host).
    /// </summary>
    public void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values)
    {
        if (!IsLast) throw new InvalidOperationException($"{Layers} is not the last stage; only the last stage has logits");
        if (k < 1 || k > MaxLogitTopK) throw new ArgumentOutOfRangeException(nameof(k), k, $"k must be in 1..{MaxLogitTopK}");
        batch.Validate(Kv, VocabSize);
        if (indices.Length < batch.LogitCount * k || values.Length < batch.LogitCount * k)
            throw new ArgumentException($"indices and values need {batch.LogitCount * k} entries each");
        WriteKv(batch, hiddenIn);
        for (int i = 0; i < batch.LogitCount; i++)
        {
            var (token, position) = Identity(batch, hiddenIn, batch.LogitTokens[i]);
            Output.WriteTopK(token, position, VocabSize, k, indices.Slice(i * k, k), values.Slice(i * k, k));
        }
        Book(batch);
    }

    /// <summary>Checks the incoming hidden rows and mixes every token into its KV block's signature.</summary>
    private void WriteKv(StepBatch batch, ReadOnlySpan<float> hiddenIn)
    {
        if (!IsFirst && hiddenIn.Length < batch.TokenCount * HiddenSize)
            throw new ArgumentException($"hidden input holds {hiddenIn.Length} floats; {batch.TokenCount} tokens need {batch.TokenCount * HiddenSize}", nameof(hiddenIn));
        for (int t = 0; t < batch.TokenCount; t++)
        {
            var (token, position) = Identity(batch, hiddenIn, t);
            int block = batch.Slots[t] / Kv.BlockSize;
            _blockSignature[block] = DeterministicRandom.Mix(_blockSignature[block], DeterministicRandom.Mix((ulong)token, (ulong)position));
        }
    }

    private void Book(StepBatch batch)
    {
        LastStepCost = CostModel.StageStep(Model, Weights, Layers, IsFirst, IsLast, BatchShape.From(batch), Device, TensorParallel, TensorLink);
        LastStepSeconds = LastStepCost.TotalSeconds;
        TotalSeconds += LastStepSeconds;
        StepCount++;
    }

    /// <summary>Token and position of batch token <paramref name="t"/>: from the batch on the first stage, from the carried hidden row later.</summary>
    private (int Token, int Position) Identity(StepBatch batch, ReadOnlySpan<float> hiddenIn, int t)
        => IsFirst ? (batch.Tokens[t], batch.Positions[t]) : ((int)hiddenIn[t * HiddenSize], batch.Positions[t]);

    public ulong BlockSignature(int block) => _blockSignature[block];

    public void ReadKvBlock(int block, Span<byte> destination)
    {
        CheckBlock(block);
        if (destination.Length < KvBlockBytes) throw new ArgumentException($"destination holds {destination.Length} bytes; a block is {KvBlockBytes}", nameof(destination));
        var words = MemoryMarshal.Cast<byte, ulong>(destination[..(KvBlockBytes & ~7)]);
        words.Fill(BitConverter.IsLittleEndian ? _blockSignature[block] : BinaryPrimitives.ReverseEndianness(_blockSignature[block]));
        destination[(KvBlockBytes & ~7)..KvBlockBytes].Clear();
    }

    public void WriteKvBlock(int block, ReadOnlySpan<byte> source)
    {
        CheckBlock(block);
        if (source.Length < KvBlockBytes) throw new ArgumentException($"source holds {source.Length} bytes; a block is {KvBlockBytes}", nameof(source));
        _blockSignature[block] = BinaryPrimitives.ReadUInt64LittleEndian(source);
    }

    public void CopyKvBlock(int source, int destination)
    {
        CheckBlock(source);
        CheckBlock(destination);
        _blockSignature[destination] = _blockSignature[source];
    }

    private void CheckBlock(int block)
    {
        if ((uint)block >= (uint)Kv.NumBlocks) throw new ArgumentOutOfRangeException(nameof(block), block, $"outside the pool of {Kv.NumBlocks} blocks");
    }

    public void Dispose() => _onDispose?.Invoke(this);
}
