using Akka.Actor;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Internal;

// What devices tell the transfer actor about copies they made, and what reports ask it.

/// <summary>A finished copy, reported by the device that did it, for the transfer actor's accounting.</summary>
internal sealed record TransferMeasured(Transfer.TransferPath Path, long Bytes, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>
/// A remote stage's exchange over its data connection during one step (its stage index in the route):
/// the transfer actor books the bytes sent on the path into the stage and those received on the path out.
/// </summary>
internal sealed record RemoteStageMeasured(PipelineRoute Route, int Stage, Remote.RemoteExchange Exchange) : INoSerializationVerificationNeeded;

/// <summary>KV blocks a stage swapped to or from host memory; the transfer actor books them on the device's host path.</summary>
internal sealed record HostSwapMeasured(string DeviceId, long Bytes, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>Asks for the transfer accounting and the chosen paths (for `actors topology` and reports).</summary>
internal sealed record GetTransferReport : INoSerializationVerificationNeeded
{
    public static readonly GetTransferReport Instance = new();
}

internal sealed record TransferReport(Topology Topology, TransferAccounting Accounting) : INoSerializationVerificationNeeded;
