using System.Diagnostics;

namespace Actors.Runtime.Timing;

/// <summary>
/// The one clock the runtime's actors read, in seconds from the clock's origin. A real run passes a
/// <see cref="RealClock"/>; a simulated run a <see cref="VirtualClock"/> per replica, which only moves
/// when the scheduler applies a step the cost model timed. Actors and messages hold no virtual-time
/// fields of their own: they ask the clock.
/// </summary>
public interface IRuntimeClock
{
    /// <summary>Seconds since the clock's origin.</summary>
    double Now { get; }

    /// <summary>True when time moves only by <see cref="AdvanceTo"/> (a simulated run).</summary>
    bool IsVirtual { get; }

    /// <summary>A virtual clock moves forward to <paramref name="seconds"/> (never back); a real one ignores it.</summary>
    void AdvanceTo(double seconds);
}

/// <summary>Wall time from a monotonic stopwatch.</summary>
public sealed class RealClock : IRuntimeClock
{
    private readonly long _origin = Stopwatch.GetTimestamp();

    /// <summary>One process-wide instance: request arrivals and scheduler events compare on one origin.</summary>
    public static RealClock Instance { get; } = new();

    public double Now => Stopwatch.GetElapsedTime(_origin).TotalSeconds;
    public bool IsVirtual => false;
    /// <summary>The clock's reading at a <see cref="Stopwatch.GetTimestamp"/> taken earlier.</summary>
    public double At(long timestamp) => Stopwatch.GetElapsedTime(_origin, timestamp).TotalSeconds;
    public void AdvanceTo(double seconds) { }
}

/// <summary>Simulated time: starts at 0 and moves only when told (one writer: its replica's scheduler).</summary>
public sealed class VirtualClock : IRuntimeClock
{
    private double _now;
    public double Now => _now;
    public bool IsVirtual => true;
    public void AdvanceTo(double seconds)
    {
        if (seconds > _now) _now = seconds;
    }
}
