using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A CPU device that records what happens to its stage executors: a forward pass after the executor
/// was disposed is counted (and fails, as a real freed device buffer would), and a batch holding
/// <see cref="HangOn"/> sleeps <see cref="HangTime"/> first, or throws <see cref="StickyOn"/>'s sticky fault, and
/// a sequence whose tokens in the step hold <see cref="NanOn"/> gets NaN logits (single-stage layouts).
/// </summary>
public sealed class WatchedDevice(string id, int threads = 1) : IComputeDevice
{
    private readonly CpuDevice _inner = new(id, threads);
    private int _disposedStages, _forwardsAfterDispose;

    public int HangOn { get; init; } = -1;
    public TimeSpan HangTime { get; init; }
    public int StickyOn { get; init; } = -1;
    public int NanOn { get; init; } = -1;
    public int DisposedStages => Volatile.Read(ref _disposedStages);
    public int ForwardsAfterDispose => Volatile.Read(ref _forwardsAfterDispose);

    public DeviceDescriptor Descriptor => _inner.Descriptor;
    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) => _inner.EstimateStageBytes(model, layers, kv, maxBatchTokens);
    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) => new Stage(_inner.LoadStage(model, layers, kv, maxBatchTokens), this);
    public void Dispose() => _inner.Dispose();

    private sealed class Stage(IStageExecutor inner, WatchedDevice owner) : IStageExecutor
    {
        private bool _disposed;
        public LayerRange Layers => inner.Layers;
        public bool IsFirst => inner.IsFirst;
        public bool IsLast => inner.IsLast;
        public int HiddenSize => inner.HiddenSize;
        public int VocabSize => inner.VocabSize;
        public KvCacheSpec Kv => inner.Kv;
        public int KvBlockBytes => inner.KvBlockBytes;

        public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
        {
            if (_disposed)
            {
                Interlocked.Increment(ref owner._forwardsAfterDispose);
                throw new ObjectDisposedException("stage executor");
            }
            var tokens = batch.Tokens.AsSpan(0, batch.TokenCount);
            if (tokens.Contains(owner.HangOn)) Thread.Sleep(owner.HangTime);
            if (tokens.Contains(owner.StickyOn)) throw new StickyDeviceFaultException("simulated lost device context");
            inner.Forward(batch, hiddenIn, output);
            if (owner.NanOn >= 0 && IsFirst && IsLast) SpoilLogits(batch, output);
        }

        private void SpoilLogits(StepBatch batch, Span<float> logits)
        {
            for (int r = 0; r < batch.LogitCount; r++)
            {
                int token = batch.LogitTokens[r], s = 0;
                while (batch.QueryStart[s + 1] <= token) s++;
                if (batch.Tokens.AsSpan(batch.QueryStart[s], batch.QueryStart[s + 1] - batch.QueryStart[s]).Contains(owner.NanOn))
                    logits.Slice(r * VocabSize, VocabSize).Fill(float.NaN);
            }
        }

        public void ReadKvBlock(int block, Span<byte> destination) => inner.ReadKvBlock(block, destination);
        public void WriteKvBlock(int block, ReadOnlySpan<byte> source) => inner.WriteKvBlock(block, source);
        public void CopyKvBlock(int source, int destination) => inner.CopyKvBlock(source, destination);

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            Interlocked.Increment(ref owner._disposedStages);
            inner.Dispose();
        }
    }
}
