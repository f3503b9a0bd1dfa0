namespace Actors.Runtime.Internal;

/// <summary>
/// Whether one replica may take requests, shared by its scheduler (which writes it), the router (which
/// routes only to healthy replicas) and readiness. A replica is out of rotation while a step is overdue
/// (the watchdog failed it and the device has not answered yet) and for good once it has failed
/// (its scheduler or a stage stopped, or a device had a sticky fault).
/// </summary>
internal sealed class ReplicaHealth(int replica)
{
    private volatile string? _failure;
    private volatile bool _hung;

    public int Replica { get; } = replica;
    public bool IsHealthy => _failure is null && !_hung;
    /// <summary>Why the replica is out of rotation, null when it is healthy.</summary>
    public string? Problem => _failure ?? (_hung ? $"replica {Replica}: a step is overdue (the step watchdog failed it; waiting for the device to answer)" : null);

    /// <summary>A step ran past the watchdog and its device has not answered (true), or it answered (false).</summary>
    public void SetHung(bool hung) => _hung = hung;

    /// <summary>Out of service for good; the first reason stays.</summary>
    public void Fail(string reason) => _failure ??= reason;
}
