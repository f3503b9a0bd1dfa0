using Akka.Actor;
using Actors.Cluster.Protocol;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>
/// A worker's replies waiting to go to their gateways. The runtime's schedulers write chunks here from
/// their own threads (through each request's <see cref="RelayWriter"/>); the first write into an empty
/// outbox asks the agent to flush, and by the time the agent runs, the rest of that decode step's chunks
/// have usually joined: one <see cref="RelayBatch"/> per gateway per step instead of one remote message
/// per request per step. A batch is cut before it would pass <see cref="MaxBatchBytes"/> on the wire.
/// </summary>
internal sealed class WorkerOutbox(IActorRef agent, int window)
{
    /// <summary>Flush request to the agent (local only).</summary>
    public sealed record Flush : INoSerializationVerificationNeeded
    {
        public static readonly Flush Instance = new();
    }

    /// <summary>Estimated wire bytes of one batch: half of Akka.Remote's 128,000-byte frame.</summary>
    internal const int MaxBatchBytes = 64_000;

    /// <summary>Per-token gaps kept in a relayed final message: 8,192 doubles are ~74 KB, well inside a 128,000-byte frame.</summary>
    internal const int MaxRelayedInterTokenGaps = 8192;

    private sealed class Pending
    {
        public readonly List<TokenChunk> Chunks = [];
        public readonly List<GenerationCompleted> Completed = [];
        public readonly List<GenerationRejected> Rejected = [];
        public int Bytes;
    }

    private readonly object _lock = new();
    private readonly Dictionary<IActorRef, Pending> _pending = new();
    private bool _flushAsked;

    /// <summary>Chunks one request may have unacknowledged by its gateway before the runtime pauses it.</summary>
    public int Window { get; } = window;

    /// <summary>The lock <see cref="RelayWriter"/>s take too (their windows and this outbox change together).</summary>
    internal object Lock => _lock;

    /// <summary>Queues a chunk; the caller holds <see cref="Lock"/>.</summary>
    internal void AddChunkLocked(IActorRef gateway, TokenChunk chunk)
    {
        var p = PendingFor(gateway);
        p.Chunks.Add(chunk);
        p.Bytes += EstimateBytes(chunk);
        AskFlushLocked();
    }

    /// <summary>Queues a request's final message or rejection (after its chunks, which were added before).</summary>
    public void AddFinal(IActorRef gateway, object final)
    {
        lock (_lock)
        {
            var p = PendingFor(gateway);
            switch (final)
            {
                case GenerationCompleted done:
                    if (done.Timings.InterTokenMs.Length > MaxRelayedInterTokenGaps) done = done with { Timings = done.Timings with { InterTokenMs = [] } };
                    p.Completed.Add(done);
                    p.Bytes += 160 + 3 * done.RequestId.Length + 9 * done.Timings.InterTokenMs.Length + 3 * (done.Error?.Length ?? 0) + 5 * (done.Embedding?.Length ?? 0);
                    break;
                case GenerationRejected rejected:
                    p.Rejected.Add(rejected);
                    p.Bytes += 32 + 3 * rejected.RequestId.Length + 3 * rejected.Message.Length;
                    break;
            }
            AskFlushLocked();
        }
    }

    /// <summary>Takes everything queued as batches, each under <see cref="MaxBatchBytes"/> unless one message alone is larger.</summary>
    public List<(IActorRef Gateway, RelayBatch Batch)> TakeBatches()
    {
        var batches = new List<(IActorRef, RelayBatch)>();
        lock (_lock)
        {
            _flushAsked = false;
            foreach (var (gateway, p) in _pending)
            {
                if (p.Chunks.Count + p.Completed.Count + p.Rejected.Count == 0) continue;
                if (p.Bytes <= MaxBatchBytes) batches.Add((gateway, new RelayBatch([.. p.Chunks], [.. p.Completed], [.. p.Rejected], Window)));
                else Split(gateway, p, batches);
                p.Chunks.Clear();
                p.Completed.Clear();
                p.Rejected.Clear();
                p.Bytes = 0;
            }
        }
        return batches;
    }

    private void Split(IActorRef gateway, Pending p, List<(IActorRef, RelayBatch)> batches)
    {
        // Chunks first, then finals: within one request the order stays chunks then final, across batches too.
        var chunks = new List<TokenChunk>();
        int bytes = 0;
        foreach (var c in p.Chunks)
        {
            int b = EstimateBytes(c);
            if (chunks.Count > 0 && bytes + b > MaxBatchBytes)
            {
                batches.Add((gateway, new RelayBatch([.. chunks], [], [], Window)));
                chunks.Clear();
                bytes = 0;
            }
            chunks.Add(c);
            bytes += b;
        }
        if (chunks.Count > 0) batches.Add((gateway, new RelayBatch([.. chunks], [], [], Window)));
        foreach (var done in p.Completed) batches.Add((gateway, new RelayBatch([], [done], [], Window)));
        if (p.Rejected.Count > 0) batches.Add((gateway, new RelayBatch([], [], [.. p.Rejected], Window)));
    }

    /// <summary>A generous estimate of a chunk's MessagePack size (UTF-8 at most 3 bytes a char, ids at most 5 bytes).</summary>
    internal static int EstimateBytes(TokenChunk c) =>
        24 + 3 * c.RequestId.Length + 3 * c.Text.Length + 5 * c.TokenIds.Length + 5 * (c.LogProbs?.Length ?? 0)
        + (c.TopLogProbs?.Sum(a => 4 + 10 * a.Length) ?? 0);

    private Pending PendingFor(IActorRef gateway)
    {
        if (!_pending.TryGetValue(gateway, out var p)) _pending[gateway] = p = new Pending();
        return p;
    }

    private void AskFlushLocked()
    {
        if (_flushAsked) return;
        _flushAsked = true;
        agent.Tell(Flush.Instance, ActorRefs.NoSender);
    }

    /// <summary>Forgets a gateway that is gone (its requests here are being cancelled).</summary>
    public void Forget(IActorRef gateway)
    {
        lock (_lock) _pending.Remove(gateway);
    }
}
