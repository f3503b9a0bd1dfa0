using System.Threading.Channels;
using Akka.Actor;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Internal;

/// <summary>Where a request actor delivers chunks and the final message.</summary>
internal interface IResponseSink
{
    /// <summary>The actor to watch (the requester), or null when the consumer is not an actor.</summary>
    IActorRef? Watch { get; }

    /// <summary>Offers a chunk; false when the consumer is full (the request then pauses its sequence).</summary>
    bool TryWrite(TokenChunk chunk);

    /// <summary>Completes when the consumer can take more.</summary>
    Task WaitToWriteAsync();

    void Complete(GenerationCompleted completed);

    void Reject(GenerationRejected rejected);
}

/// <summary>An actor requester: chunks are told; actors have no backpressure, so writes always succeed.</summary>
internal sealed class ActorSink(IActorRef requester, IActorRef self) : IResponseSink
{
    public IActorRef? Watch => requester;
    public bool TryWrite(TokenChunk chunk)
    {
        requester.Tell(chunk, self);
        return true;
    }
    public Task WaitToWriteAsync() => Task.CompletedTask;
    public void Complete(GenerationCompleted completed) => requester.Tell(completed, self);
    public void Reject(GenerationRejected rejected) => requester.Tell(rejected, self);
}

/// <summary>
/// A bounded channel read by a stream or an IAsyncEnumerable: when it is full the request pauses,
/// so a slow consumer never makes the runtime buffer without bound.
/// </summary>
internal sealed class ChannelSink(ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome) : IResponseSink
{
    public IActorRef? Watch => null;
    public bool TryWrite(TokenChunk chunk) => writer.TryWrite(chunk);
    public Task WaitToWriteAsync() => writer.WaitToWriteAsync().AsTask();
    public void Complete(GenerationCompleted completed)
    {
        outcome.TrySetResult(completed);
        writer.TryComplete();
    }
    public void Reject(GenerationRejected rejected)
    {
        outcome.TrySetResult(rejected);
        writer.TryComplete(new GenerationRejectedException(rejected));
    }
}
