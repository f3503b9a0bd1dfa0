using System.Threading.Channels;
using Akka.Actor;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>Where a gateway request's replies go: an actor that sent <see cref="Generate"/>, or a channel of <see cref="ClusterGateway"/>.</summary>
internal interface IClientSink
{
    /// <summary>The requesting actor, watched so its death cancels the request; null for channels.</summary>
    IActorRef? Watch { get; }
    void Chunk(TokenChunk chunk);
    void Completed(GenerationCompleted completed);
    void Rejected(GenerationRejected rejected);
}

internal sealed class ActorClient(IActorRef client, IActorRef gateway) : IClientSink
{
    public IActorRef? Watch => client;
    public void Chunk(TokenChunk chunk) => client.Tell(chunk, gateway);
    public void Completed(GenerationCompleted completed) => client.Tell(completed, gateway);
    public void Rejected(GenerationRejected rejected) => client.Tell(rejected, gateway);
}

/// <summary>
/// An unbounded channel: chunks come from remote workers, which a full channel could not slow down anyway
/// (Akka.Remote has no backpressure); the client's reading pace does not stall the gateway actor.
/// </summary>
internal sealed class ChannelClient(ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome) : IClientSink
{
    public IActorRef? Watch => null;
    public void Chunk(TokenChunk chunk) => writer.TryWrite(chunk);

    public void Completed(GenerationCompleted completed)
    {
        outcome.TrySetResult(completed);
        writer.TryComplete();
    }

    public void Rejected(GenerationRejected rejected)
    {
        outcome.TrySetResult(rejected);
        writer.TryComplete();
    }
}

/// <summary>Starts a gateway request whose replies go to a channel (local only).</summary>
internal sealed record StartChannelRequest(Generate Request, ChannelWriter<TokenChunk> Writer, TaskCompletionSource<object> Outcome)
    : INoSerializationVerificationNeeded;
