using System.Threading.Channels;

namespace Actors.Runtime.Protocol;

/// <summary>
/// Takes the requests of <see cref="LlmRuntime"/>'s .NET calls (streams, GenerateAsync, the HTTP server on
/// top) in place of the runtime's own router, e.g. a cluster gateway that spreads them over other nodes
/// (<see cref="LlmRuntime.RouteThrough"/>). It writes the request's chunks to <c>writer</c>, completes it, and
/// sets <c>outcome</c> to the final <see cref="GenerationCompleted"/> or the <see cref="GenerationRejected"/>.
/// </summary>
public interface IGenerationFrontDoor
{
    void Start(Generate request, ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome);
    void Cancel(string requestId);
}
