using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A CPU device whose last stage runs the real forward pass and then makes <see cref="Next"/> of each
/// row's input token the clear winner: generation follows a script, so stop rules can be tested on
/// known tokens through the whole runtime.
/// </summary>
public sealed class ScriptedDevice(string id, Func<int, int> next) : IComputeDevice
{
    private readonly CpuDevice _inner = new(id, 2);

    public Func<int, int> Next { get; } = next;
    public DeviceDescriptor Descriptor => _inner.Descriptor;

    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        _inner.EstimateStageBytes(model, layers, kv, maxBatchTokens);

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        new Stage(_inner.LoadStage(model, layers, kv, maxBatchTokens), Next);

    public void Dispose() => _inner.Dispose();

    private sealed class Stage(IStageExecutor inner, Func<int, int> next) : IStageExecutor
    {
        public LayerRange Layers => inner.Layers;
        public bool IsFirst => inner.IsFirst;
        public bool IsLast => inner.IsLast;
        public int HiddenSize => inner.HiddenSize;
        public int VocabSize => inner.VocabSize;
        public KvCacheSpec Kv => inner.Kv;
        public int KvBlockBytes => inner.KvBlockBytes;

        public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
        {
            inner.Forward(batch, hiddenIn, output);
            if (!IsLast || !IsFirst) return;
            for (int i = 0; i < batch.LogitCount; i++)
            {
                var row = output.Slice(i * VocabSize, VocabSize);
                row.Fill(-10f);
                row[next(batch.Tokens[batch.LogitTokens[i]])] = 10f;
            }
        }

        public void ReadKvBlock(int block, Span<byte> destination) => inner.ReadKvBlock(block, destination);
        public void WriteKvBlock(int block, ReadOnlySpan<byte> source) => inner.WriteKvBlock(block, source);
        public void CopyKvBlock(int source, int destination) => inner.CopyKvBlock(source, destination);
        public void Dispose() => inner.Dispose();
    }
}
