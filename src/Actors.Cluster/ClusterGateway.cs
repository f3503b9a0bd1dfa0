using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Akka.Actor;
using Actors.Cluster.Internal;
using Actors.Cluster.Protocol;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster;

/// <summary>
/// A gateway node's entry for .NET callers: the same calls as <see cref="LlmRuntime"/> (stream, generate),
/// served by whichever worker of the cluster the gateway picks, surviving the loss of that worker; or
/// <see cref="LlmRuntime.RouteThrough"/> it so that a runtime's own calls and HTTP server go through it.
/// Actors can instead send <see cref="Generate"/> / <see cref="Cancel"/> to <see cref="Actor"/>.
/// </summary>
/// <param name="streamBuffer">
/// Chunks a stream may hold unread (the node's actors-runtime.request.stream-buffer): past that the gateway
/// stops crediting the worker, which pauses the request, as a slow reader of a local stream does.
/// </param>
public sealed class ClusterGateway(IActorRef actor, int streamBuffer = 64) : IGenerationFrontDoor
{
    public IActorRef Actor { get; } = actor;

    /// <summary>The members, the workers with their load, and the failover record, as the gateway sees them.</summary>
    public Task<ClusterTopology> TopologyAsync(TimeSpan? timeout = null) =>
        Actor.Ask<ClusterTopology>(GetClusterTopology.Instance, timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>Generates as an async enumerable; breaking out or cancelling the token cancels the request.</summary>
    public IAsyncEnumerable<TokenChunk> StreamAsync(Generate request, CancellationToken cancel = default) =>
        Read(Start(request).Reader, request.RequestId, cancel);

    /// <summary>Generates to the end: the text, the token ids and the final message (a rejection throws <see cref="GenerationRejectedException"/>).</summary>
    public Task<GenerationResult> GenerateAsync(Generate request, CancellationToken cancel = default)
    {
        var (reader, outcome) = Start(request);
        return GenerationChannel.Collect(reader, outcome, () => Actor.Tell(new Cancel(request.RequestId)), cancel);
    }

    private IAsyncEnumerable<TokenChunk> Read(ChannelReader<TokenChunk> reader, string requestId, CancellationToken cancel) =>
        GenerationChannel.Read(reader, () => Actor.Tell(new Cancel(requestId)), cancel);

    /// <summary>For <see cref="LlmRuntime.RouteThrough"/>: a runtime's (and its HTTP server's) requests served through this gateway.</summary>
    void IGenerationFrontDoor.Start(Generate request, ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome) =>
        Actor.Tell(new StartChannelRequest(request, writer, outcome));

    void IGenerationFrontDoor.Cancel(string requestId) => Actor.Tell(new Cancel(requestId));

    private (ChannelReader<TokenChunk> Reader, TaskCompletionSource<object> Outcome) Start(Generate request)
    {
        var channel = Channel.CreateBounded<TokenChunk>(new BoundedChannelOptions(streamBuffer)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        var outcome = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        Actor.Tell(new StartChannelRequest(request, channel.Writer, outcome));
        return (channel.Reader, outcome);
    }
}
