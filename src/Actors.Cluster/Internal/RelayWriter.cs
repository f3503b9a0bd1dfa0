using System.Threading.Channels;
using Akka.Actor;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>
/// One request's stream on a worker, as the runtime writes it (<see cref="Actors.Runtime.LlmRuntime.StartInto"/>):
/// chunks go into the <see cref="WorkerOutbox"/> for its gateway while fewer than the outbox's window are
/// unacknowledged; past that TryWrite says no, and the runtime pauses the sequence (keeping its KV; evicted
/// with a clear error after actors-runtime.request.max-paused) until the gateway's <see cref="Protocol.RelayCredit"/>
/// says its client took them. So a slow reader behind a gateway costs the worker at most a window of chunks.
/// </summary>
internal sealed class RelayWriter(string attemptId, IActorRef gateway, WorkerOutbox outbox) : ChannelWriter<TokenChunk>
{
    private int _unacknowledged;
    private bool _completed;
    private TaskCompletionSource<bool>? _room;

    public string AttemptId { get; } = attemptId;
    public IActorRef Gateway { get; } = gateway;

    /// <summary>Chunks sent and not yet acknowledged (for tests and the bound).</summary>
    public int Unacknowledged
    {
        get { lock (outbox.Lock) return _unacknowledged; }
    }

    public override bool TryWrite(TokenChunk item)
    {
        lock (outbox.Lock)
        {
            if (_completed || _unacknowledged >= outbox.Window) return false;
            _unacknowledged++;
            outbox.AddChunkLocked(Gateway, item);
            return true;
        }
    }

    public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default)
    {
        lock (outbox.Lock)
        {
            if (_completed) return new ValueTask<bool>(false);
            if (_unacknowledged < outbox.Window) return new ValueTask<bool>(true);
            _room ??= new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            return new ValueTask<bool>(_room.Task.WaitAsync(cancellationToken));
        }
    }

    /// <summary>The gateway's client took <paramref name="chunks"/> more: room for as many.</summary>
    public void Credit(int chunks)
    {
        TaskCompletionSource<bool>? room = null;
        lock (outbox.Lock)
        {
            _unacknowledged = Math.Max(0, _unacknowledged - chunks);
            if (_room is not null && _unacknowledged < outbox.Window) (room, _room) = (_room, null);
        }
        room?.TrySetResult(true);
    }

    public override bool TryComplete(Exception? error = null)
    {
        TaskCompletionSource<bool>? room;
        lock (outbox.Lock)
        {
            if (_completed) return false;
            _completed = true;
            (room, _room) = (_room, null);
        }
        room?.TrySetResult(false);
        return true;
    }
}
