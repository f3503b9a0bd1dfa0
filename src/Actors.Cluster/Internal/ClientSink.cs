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
/// A caller's channel, which may be bounded (the runtime's streams are, so a slow reader pauses its
/// request): chunks from remote workers cannot be slowed down (Akka.Remote has no backpressure) and the
/// gateway actor must never wait, so they go through an unbounded buffer that a pump copies into the
/// caller's channel at the reader's pace; the outcome is set after the last chunk.
/// </summary>
internal sealed class ChannelClient : IClientSink
{
    private readonly Channel<TokenChunk> _buffer = Channel.CreateUnbounded<TokenChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _abandon = new();
    private object? _final;

    public ChannelClient(ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome) => _ = Pump(writer, outcome);

    public IActorRef? Watch => null;
    public void Chunk(TokenChunk chunk) => _buffer.Writer.TryWrite(chunk);

    public void Completed(GenerationCompleted completed) => End(completed);
    public void Rejected(GenerationRejected rejected) => End(rejected);

    private void End(object final)
    {
        Volatile.Write(ref _final, final);
        _buffer.Writer.TryComplete();
        // A cancelled request's reader has usually gone: chunks it will never read must not hold back the outcome.
        if (final is GenerationCompleted { Reason: FinishReason.Cancelled }) _abandon.Cancel();
    }

    private async Task Pump(ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome)
    {
        try
        {
            await foreach (var chunk in _buffer.Reader.ReadAllAsync())
                if (!writer.TryWrite(chunk)) await writer.WriteAsync(chunk, _abandon.Token);
        }
        catch (Exception ex) when (ex is ChannelClosedException or OperationCanceledException)
        {
            // The caller completed its channel, or cancelled and stopped reading: nothing more to deliver.
        }
        outcome.TrySetResult(Volatile.Read(ref _final)!);
        writer.TryComplete();

    }
}

/// <summary>Starts a gateway request whose replies go to a channel (local only).</summary>
internal sealed record StartChannelRequest(Generate Request, ChannelWriter<TokenChunk> Writer, TaskCompletionSource<object> Outcome)
    : INoSerializationVerificationNeeded;
