using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>
/// What failures do to the requests a scheduler holds. Every request ends with one terminal reply:
/// <list type="bullet">
/// <item>a device step that throws: that step's sequences end with finish reason Error naming the
/// device and the fault; the replica carries on (<see cref="FailStep"/>);</item>
/// <item>invalid logits (NaN, +inf) for one sequence: that sequence ends with Error, the others in the
/// step get their tokens (<see cref="EndInvalidRows"/>);</item>
/// <item>a step past scheduler.step-timeout (the watchdog): its sequences end with Error naming the
/// timeout; the replica leaves rotation and dispatches nothing until the device answers;</item>
/// <item>a sticky device fault, a stage actor stopped, or this actor crashing or stopping: every
/// sequence it holds ends with Error naming the cause, and the replica is out of service for good
/// (<see cref="FailReplica"/>; not rebuilt, not re-admitted elsewhere: a request's KV and sampler
/// state die with the replica, and re-running it would send its client tokens twice).</item>
/// </list>
/// </summary>
internal sealed partial class SchedulerActor
{
    private sealed record WatchdogTick
    {
        public static readonly WatchdogTick Instance = new();
    }

    private readonly ReplicaHealth _health;
    private readonly TimeSpan _stepTimeout;
    private readonly FaultInjector? _faults;
    /// <summary>Steps the watchdog failed whose device has not answered yet (their StepWork is still out there).</summary>
    private readonly HashSet<long> _overdue = new();
    /// <summary>Why the replica is out of service; once set every later request is refused.</summary>
    private string? _failure;
    private Exception? _crash;

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        if (_stepTimeout > TimeSpan.Zero && !_clock.IsVirtual)
        {
            var period = TimeSpan.FromTicks(Math.Clamp(_stepTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond * 10, TimeSpan.TicksPerSecond));
            // First tick at once, while the runtime starts: its path (Akka's timer wheel, the overdue check) is
            // compiled then instead of inside whichever request is running a period later (~11 methods, 1-20 ms of JIT).
            Timers.StartPeriodicTimer("watchdog", WatchdogTick.Instance, TimeSpan.Zero, period);
        }
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception ex)
        {
            _crash = ex; // for PostStop: the supervisor stops this actor (RuntimeGuardian)
            throw;
        }
    }

    protected override void PostStop()
    {
        if (_failure is not null) return; // everything already ended
        string reason = _crash is null
            ? $"replica {_replica} stopped (the runtime is shutting down)"
            : $"replica {_replica}'s scheduler crashed: {_crash.Message}";
        _failure = reason;
        _health.Fail(reason);
        // After a crash the policy's state cannot be trusted: end the streams without asking it.
        EndEverything(reason, abortInPolicy: false);
        _gauges.Waiting = _gauges.Running = _gauges.BlocksUsed = 0; // the replica's pool is gone with it
    }

    /// <summary>The replica is out of service for good: every request it holds ends with <paramref name="reason"/>.</summary>
    private void FailReplica(string reason)
    {
        if (_failure is not null) return;
        _failure = reason;
        _health.Fail(reason);
        _log.Error("{0}; ending the {1} requests it held; the replica leaves rotation", reason, _streams.Count + _future.Count + _maintenance.Count);
        Timers.CancelAll();
        EndEverything(reason, abortInPolicy: true);
        PublishGauges();
    }

    private void EndEverything(string reason, bool abortInPolicy)
    {
        foreach (var (id, stream) in _streams)
        {
            if (abortInPolicy) _policy.Abort(id, AbortReason.Error);
            End(stream, FinishReason.Error, reason);
        }
        _streams.Clear();
        foreach (var (_, m) in _maintenance)
        {
            if (abortInPolicy) _policy.Abort(m.Stream.SequenceId, AbortReason.Error);
            if (m.Migration is not null) m.Migration.Tell(new ImportRefused(m.Stream.SequenceId, reason));
            else End(m.Stream, FinishReason.Error, reason);
        }
        _maintenance.Clear();
        while (_future.TryDequeue(out var waiting, out _)) End(waiting.Request.Stream, FinishReason.Error, reason);
        EndAssembling(reason);
        _pendingSetup.Clear();
        _inFlight.Clear();
        _overdue.Clear();
    }

    /// <summary>Out of service: refuse what would start work, answer what waits for an answer, drop the rest.</summary>
    private void OnReceiveFailed(object message)
    {
        switch (message)
        {
            case EnqueueSequence e:
                e.InTransit?.Arrived();
                Sender.Tell(new SequenceRejected(e.Request.Id, AdmissionStatus.QueueFull, _failure!, RejectionReason.Unavailable));
                break;
            case ExportSequence e:
                e.ReplyTo.Tell(new MigrationFailed(e.RequestId, _failure!));
                break;
            case ImportSequence i:
                Sender.Tell(new ImportRefused(i.Sequence.Request.Id, _failure!));
                break;
            case AbortSequence a:
                if (_migratedTo.TryGetValue(a.SequenceId, out var moved)) moved.Forward(a);
                break;
        }
    }

    /// <summary>The step watchdog: fails every step in flight for longer than scheduler.step-timeout.</summary>
    private void CheckOverdueSteps()
    {
        if (_inFlight.Count == 0) return;
        long now = Stopwatch.GetTimestamp();
        List<long>? late = null;
        foreach (var (id, entry) in _inFlight)
            if (Stopwatch.GetElapsedTime(entry.Work.DispatchedTicks, now) > _stepTimeout) (late ??= new()).Add(id);
        if (late is null) return;
        // Out of rotation before any reply leaves: a client that sees the error must not find the replica healthy.
        _health.SetHung(true);
        foreach (long id in late)
        {
            _inFlight.Remove(id, out var entry);
            _overdue.Add(id);
            string error = $"step {id} of replica {_replica} ran past actors-runtime.scheduler.step-timeout = {_stepTimeout.TotalMilliseconds:0} ms: the device did not answer";
            _log.Error("{0}; ending its {1} sequences, the replica leaves rotation until the device answers", error, entry.Step.Sequences.Length);
            FailStep(entry.Step, error);
        }
        PublishGauges();
    }

    /// <summary>A step the watchdog already failed came back: its work is free again, and with none overdue the replica is back in rotation.</summary>
    private bool OverdueAnswered(StepWork work)
    {
        if (!_overdue.Remove(work.StepId)) return false;
        _workPool.Push(work);
        if (_overdue.Count == 0)
        {
            _log.Warning("replica {0}: the overdue step {1} answered; back in rotation", _replica, work.StepId);
            _health.SetHung(false);
            TrySchedule();
        }
        return true;
    }

    /// <summary>Sequences whose logits the last stage could not sample end with the error it gave; the placeholder token is dropped by the policy.</summary>
    private void EndInvalidRows(StepWork work)
    {
        for (int i = 0; i < work.Batch.LogitCount; i++)
        {
            if (work.Sampled[i] >= 0) continue;
            long id = work.SequenceIds[work.LogitSequence[i]];
            string error = work.RowErrors[i] ?? "invalid logits";
            work.RowErrors[i] = null;
            _log.Warning("replica {0}: sequence {1} ended: {2}", _replica, id, error);
            _sampled[i] = 0;
            _policy.Abort(id, AbortReason.Error);
            Forget(id);
            if (_streams.Remove(id, out var stream)) End(stream, FinishReason.Error, error);
        }
    }

    /// <summary>request.admission-timeout passed: a sequence still waiting to run for the first time leaves the queue, rejected as unavailable.</summary>
    private void ExpireAdmission(long id)
    {
        if (!_streams.TryGetValue(id, out var stream) || stream.HasStarted || _policy.IsImporting(id)) return;
        _policy.Abort(id, AbortReason.Cancelled);
        Forget(id);
        _streams.Remove(id);
        stream.RequestActor.Tell(new SequenceRejected(id, AdmissionStatus.QueueFull,
            $"not started within actors-runtime.request.admission-timeout ({stream.WaitedMs(_clock.Now):0} ms queued on replica {_replica}): the server is overloaded",
            RejectionReason.Unavailable));
        TrySchedule();
    }

    private int IndexOfStage(IActorRef actor)
    {
        if (_route is null) return -1;
        for (int i = 0; i < _route.StageActors.Count; i++)
            if (_route.StageActors[i].Equals(actor)) return i;
        return -1;
    }
}
