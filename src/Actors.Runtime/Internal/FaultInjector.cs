using Actors.Runtime.Configuration;

namespace Actors.Runtime.Internal;

/// <summary>A fault <see cref="FaultInjector"/> picks for one device step.</summary>
internal enum InjectedFault
{
    None,
    StepError,
    NanLogits,
    Hang,
    StickyFault,
    KillStage,
}

/// <summary>Thrown on purpose by actors-runtime.fault-injection; its message says so.</summary>
internal sealed class InjectedFaultException(string message) : Exception(message);

/// <summary>
/// Draws the faults of actors-runtime.fault-injection from a seeded generator: one draw per device
/// step (at most one fault each) or per completed step for a scheduler crash, so the same seed and
/// the same sequence of steps give the same faults. Pure: no actor, no clock.
/// </summary>
internal sealed class FaultInjector
{
    private readonly FaultInjectionOptions _o;
    private ulong _state;

    /// <param name="stream">Separates the generators of different stages and schedulers under one seed.</param>
    public FaultInjector(FaultInjectionOptions options, int stream)
    {
        _o = options;
        _state = (ulong)(uint)options.Seed * 0x9E3779B97F4A7C15UL ^ (ulong)(uint)stream * 0xBF58476D1CE4E5B9UL ^ 0x94D049BB133111EBUL;
    }

    public TimeSpan HangTime => _o.HangTime;

    /// <summary>The fault for the next device step of a stage (<paramref name="isLast"/>: it computes logits, so NaN logits are possible).</summary>
    public InjectedFault NextStepFault(bool isLast)
    {
        double u = NextDouble(), edge = 0;
        if (u < (edge += _o.StepErrorRate)) return InjectedFault.StepError;
        if (u < (edge += _o.NanLogitsRate)) return isLast ? InjectedFault.NanLogits : InjectedFault.None;
        if (u < (edge += _o.HangRate)) return InjectedFault.Hang;
        if (u < (edge += _o.StickyFaultRate)) return InjectedFault.StickyFault;
        if (u < (edge += _o.KillStageRate)) return InjectedFault.KillStage;
        return InjectedFault.None;
    }

    /// <summary>Whether the scheduler crashes after this completed step.</summary>
    public bool NextSchedulerKill() => _o.KillSchedulerRate > 0 && NextDouble() < _o.KillSchedulerRate;

    /// <summary>A row in [0, <paramref name="count"/>): which sequence's logits go bad.</summary>
    public int NextIndex(int count) => (int)(Next() % (ulong)count);

    private double NextDouble() => (Next() >> 11) * (1.0 / (1UL << 53));

    private ulong Next()
    {
        // SplitMix64: small, fast, and the same sequence on every platform.
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
