using MessagePack;

namespace Actors.Cluster.Protocol;

/// <summary>Messages between nodes of the cluster (serialized by ClusterMessageSerializer, MessagePack).</summary>
public interface IClusterMessage;

/// <summary>
/// A worker's replicas and load, pushed to every gateway every actors-cluster.worker.load-report-interval
/// (the first one announces the worker). Counts are summed over the worker's replicas.
/// </summary>
/// <param name="MaxRunning">Sequences the worker runs at once (max-running-sequences times replicas).</param>
/// <param name="MaxWaiting">Sequences it queues beyond those before rejecting (max-waiting times replicas).</param>
[MessagePackObject]
public sealed record WorkerStatus(
    [property: Key(0)] string Model,
    [property: Key(1)] int Replicas,
    [property: Key(2)] int MaxRunning,
    [property: Key(3)] int MaxWaiting,
    [property: Key(4)] int Waiting,
    [property: Key(5)] int Running,
    [property: Key(6)] int BlocksUsed,
    [property: Key(7)] int BlocksTotal,
    [property: Key(8)] string Devices) : IClusterMessage;

/// <summary>Asks a gateway for <see cref="ClusterTopology"/>.</summary>
[MessagePackObject]
public sealed record GetClusterTopology : IClusterMessage
{
    public static readonly GetClusterTopology Instance = new();
}

/// <summary>A member of the cluster as the gateway's node sees it.</summary>
[MessagePackObject]
public sealed record NodeInfo(
    [property: Key(0)] string Address,
    [property: Key(1)] string[] Roles,
    [property: Key(2)] string Status,
    [property: Key(3)] bool Reachable);

/// <summary>A worker the gateway routes to: its last status, what this gateway sent it, and the path to it.</summary>
/// <param name="InFlight">Requests of this gateway running there now.</param>
/// <param name="Placed">Requests this gateway has placed there since it started (re-admissions included).</param>
/// <param name="RoundTripMs">Last measured round trip of a small message over Akka.Remote to the worker's agent and back (NaN: none yet).</param>
/// <param name="TokensRelayed">Tokens this gateway has received from the worker and passed on.</param>
/// <param name="RelayBatches">Messages those tokens came in (<see cref="RelayBatch"/>: about one per decode step, whatever the number of requests).</param>
[MessagePackObject]
public sealed record WorkerInfo(
    [property: Key(0)] string Address,
    [property: Key(1)] WorkerStatus Status,
    [property: Key(2)] int InFlight,
    [property: Key(3)] long Placed,
    [property: Key(4)] double RoundTripMs = double.NaN,
    [property: Key(5)] long TokensRelayed = 0,
    [property: Key(6)] long RelayBatches = 0);

/// <summary>The gateway's probe of the path to a worker; the worker's agent answers with <see cref="WorkerPong"/>.</summary>
[MessagePackObject]
public sealed record WorkerPing([property: Key(0)] long SentAt) : IClusterMessage;

[MessagePackObject]
public sealed record WorkerPong([property: Key(0)] long SentAt) : IClusterMessage;

/// <summary>The cluster's members, the workers a gateway routes to, and its failover record.</summary>
/// <param name="Readmitted">Requests re-admitted on another worker after theirs was lost.</param>
/// <param name="ReadmittedTokens">Tokens those requests had streamed before (prompt of their re-admission).</param>
/// <param name="LastFailoverMs">The last loss of a worker: from noticing it to the first token of one of its re-admitted requests (NaN: none yet).</param>
/// <param name="LastFailoverAllMs">The same, to the first token of the last of its re-admitted requests (NaN: not all resumed yet).</param>
[MessagePackObject]
public sealed record ClusterTopology(
    [property: Key(0)] NodeInfo[] Nodes,
    [property: Key(1)] WorkerInfo[] Workers,
    [property: Key(2)] long Readmitted,
    [property: Key(3)] long ReadmittedTokens,
    [property: Key(4)] double LastFailoverMs,
    [property: Key(5)] long FailedTerminally,
    [property: Key(6)] double LastFailoverAllMs = double.NaN) : IClusterMessage;

/// <summary>
/// A worker's replies to one gateway since its last batch (typically one decode step of all that gateway's
/// requests there): one Akka.Remote message instead of one per request per step. The gateway passes each
/// chunk, then each final message, to its client; a request's final always comes after its chunks.
/// </summary>
/// <param name="Window">Chunks the worker lets one request have unacknowledged (<see cref="RelayCredit"/> returns them).</param>
[MessagePackObject]
public sealed record RelayBatch(
    [property: Key(0)] Actors.Runtime.Protocol.TokenChunk[] Chunks,
    [property: Key(1)] Actors.Runtime.Protocol.GenerationCompleted[] Completed,
    [property: Key(2)] Actors.Runtime.Protocol.GenerationRejected[] Rejected,
    [property: Key(3)] int Window) : IClusterMessage;

/// <summary>
/// A gateway's acknowledgement of chunks its clients took: request attempt <c>AttemptIds[i]</c> may send
/// <c>Chunks[i]</c> more. A request whose client reads slowly gets none, and its worker pauses it once
/// <see cref="RelayBatch.Window"/> chunks are unacknowledged (backpressure across nodes).
/// </summary>
[MessagePackObject]
public sealed record RelayCredit(
    [property: Key(0)] string[] AttemptIds,
    [property: Key(1)] int[] Chunks) : IClusterMessage;
