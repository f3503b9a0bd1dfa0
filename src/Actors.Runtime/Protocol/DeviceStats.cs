using Akka.Actor;

namespace Actors.Runtime.Protocol;

/// <summary>Ask a device actor (<see cref="LlmRuntime.DeviceActors"/>) how busy its device was; answered with <see cref="DeviceStats"/>. Local only.</summary>
public sealed record GetDeviceStats : INoSerializationVerificationNeeded
{
    public static readonly GetDeviceStats Instance = new();
}

/// <summary>A device's busy time (every stage on it, maintenance and sampling included), steps, seconds since it started, and the time inside forward passes alone.</summary>
public sealed record DeviceStats(string DeviceId, double BusySeconds, long Steps, double SinceSeconds, double ForwardSeconds = 0) : INoSerializationVerificationNeeded;
