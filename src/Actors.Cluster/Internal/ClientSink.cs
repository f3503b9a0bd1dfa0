using System.Threading.Channels;
using Akka.Actor;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>Where a gateway request's replies go: an actor that sent <see cref="Generate"/>, or a channel of <see cref="ClusterGateway"/>.</summary>
internal interface IClientSink
{
    /// <summary>The requesting actor, watched so its death cancels the request; null for channels.</summary>
    IActorRef? Watch { get; }
    /// <summary>Chunks given to this sink that the client has not taken yet (its worker gets no credit for them).</summary>
    int Backlog { get; }
    void Chunk(TokenChunk chunk);
    void Completed(GenerationCompleted completed);
    void Rejected(GenerationRejected rejected);
}

internal sealed class ActorClient(IActorRef client, IActorRef gateway) : IClientSink
{
    public IActorRef? Watch => client;
    public int Backlog => 0; // actors have no backpressure: a told chunk is taken
    public void Chunk(TokenChunk chunk) => client.Tell(chunk, gateway);
    public void Completed(GenerationCompleted completed) => client.Tell(completed, gateway);
    public void Rejected(GenerationRejected rejected) => client.Tell(rejected, gateway);
}

/// <summary>
/// A caller's channel, which may be bounded (the runtime's streams are, so HTTP streams are): a chunk goes
/// straight in while the channel has room; when it is full, chunks wait here (the gateway actor must never
/// wait) and a pump copies them at the reader's pace, calling <c>caughtUp</c> when it has emptied the
/// backlog. The gateway credits the worker only for chunks taken, so the backlog stays within the worker's
/// window (<see cref="RelayWriter"/>). The outcome is set after the last chunk.
/// </summary>
internal sealed class ChannelClient(ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome, Action caughtUp) : IClientSink
{
    private readonly object _lock = new();
    private readonly Queue<TokenChunk> _backlog = new();
    private readonly CancellationTokenSource _abandon = new();
    private bool _pumping;
    private object? _final;

    public IActorRef? Watch => null;

    public int Backlog
    {
        get { lock (_lock) return _backlog.Count; }
    }

    public void Chunk(TokenChunk chunk)
    {
        lock (_lock)
        {
            if (_final is not null) return;
            if (_backlog.Count == 0 && writer.TryWrite(chunk)) return;
            _backlog.Enqueue(chunk);
            if (_pumping) return;
            _pumping = true;
        }
        _ = Pump();
    }

    public void Completed(GenerationCompleted completed) => End(completed);
    public void Rejected(GenerationRejected rejected) => End(rejected);

    private void End(object final)
    {
        lock (_lock)
        {
            if (_final is not null) return;
            _final = final;
            if (_pumping)
            {
                // A cancelled request's reader has usually gone, an evicted one's stopped reading (the worker
                // paused it for actors-runtime.request.max-paused): chunks it will not read must not hold back the outcome.
                if (final is GenerationCompleted { Reason: FinishReason.Cancelled or FinishReason.Evicted }) _abandon.Cancel();
                return; // the pump sets the outcome after the backlog
            }
        }
        Finish();
    }

    private void Finish()
    {
        outcome.TrySetResult(Volatile.Read(ref _final)!);
        writer.TryComplete();
    }

    private async Task Pump()
    {
        try
        {
            while (await writer.WaitToWriteAsync(_abandon.Token))
            {
                lock (_lock)
                {
                    while (_backlog.Count > 0 && writer.TryWrite(_backlog.Peek())) _backlog.Dequeue();
                    if (_backlog.Count > 0) continue;
                    _pumping = false;
                    if (_final is null)
                    {
                        caughtUp();
                        return;
                    }
                }
                Finish();
                return;
            }
        }
        catch (OperationCanceledException)
        {
            // Cancelled and the reader stopped reading: nothing more to deliver.
        }
        // The caller completed its channel, or abandoned it: drop the backlog; the outcome still comes.
        lock (_lock)
        {
            _backlog.Clear();
            _pumping = false;
            if (_final is null)
            {
                caughtUp();
                return;
            }
        }
        Finish();
    }
}

/// <summary>Starts a gateway request whose replies go to a channel (local only).</summary>
internal sealed record StartChannelRequest(Generate Request, ChannelWriter<TokenChunk> Writer, TaskCompletionSource<object> Outcome)
    : INoSerializationVerificationNeeded;
