using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace Actors.Runtime.Internal;

/// <summary>
/// Akka's scheduler (timers, Ask timeouts, actor Timers), waking only when something is due; opt-in with
/// <c>akka.scheduler.implementation = "Actors.Runtime.Internal.DueTimeScheduler, Actors.Runtime"</c> in a config
/// file. Akka's own <c>HashedWheelTimerScheduler</c> ticks every tick-duration whether or not a timer is due, and
/// each tick wakes the .NET timer thread and a thread-pool worker (twice: its next <c>Task.Delay</c> re-arms the
/// timer thread). Here each scheduled item is a <see cref="Timer"/> of its own (the .NET timer queue keeps them in
/// one native timer), so a decode whose only timer is the step watchdog wakes nothing between its ticks: the bench
/// process's other threads woke 20 times a second instead of 140. Not the default: on the loaded shared machine
/// it was measured on, decode was slower with it in most runs (14 of 17 against 3 of 14), for reasons not found
/// (docs/benchmarks.md, "Fresh-process decode").
/// </summary>
/// <remarks>
/// Like Akka's scheduler, cancelled items never run, repeated items run until cancelled, and what is still
/// scheduled when the actor system disposes its scheduler runs once then (so e.g. pending Ask timeouts end).
/// </remarks>
internal sealed class DueTimeScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    private static readonly long Started = Stopwatch.GetTimestamp();
    private readonly ConcurrentDictionary<Entry, byte> _pending = new();
    private volatile bool _disposed;

    public DueTimeScheduler(Config scheduler, ILoggingAdapter log) : base(scheduler, log)
    {
    }

    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;
    public override TimeSpan MonotonicClock => Stopwatch.GetElapsedTime(Started);
    public override TimeSpan HighResMonotonicClock => Stopwatch.GetElapsedTime(Started);

    protected override void InternalScheduleTellOnce(TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(delay, Timeout.InfiniteTimeSpan, new Tell(receiver, message, sender), cancelable);

    protected override void InternalScheduleTellRepeatedly(TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(initialDelay, interval, new Tell(receiver, message, sender), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Schedule(delay, Timeout.InfiniteTimeSpan, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Schedule(delay, Timeout.InfiniteTimeSpan, action, cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Schedule(initialDelay, interval, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleRepeatedly(TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Schedule(initialDelay, interval, action, cancelable);

    private void Schedule(TimeSpan delay, TimeSpan interval, IRunnable action, ICancelable? cancelable)
    {
        if (_disposed) throw new SchedulerException("cannot schedule after the scheduler was disposed");
        var entry = new Entry(this, action, cancelable, interval);
        _pending[entry] = 0;
        entry.Start(delay < TimeSpan.Zero ? TimeSpan.Zero : delay);
    }

    /// <summary>Items on the timer queue (scheduled, neither run to their end nor cancelled).</summary>
    public int PendingCount => _pending.Count;

    /// <summary>Runs once what is still scheduled and not cancelled, then schedules nothing more.</summary>
    public void Dispose()
    {
        _disposed = true;
        foreach (var entry in _pending.Keys)
        {
            if (!entry.Stop()) continue;
            Run(entry.Action);
        }
    }

    private void Run(IRunnable action)
    {
        try
        {
            action.Run();
        }
        catch (SchedulerException)
        {
            // a terminated actor's timer
        }
        catch (Exception ex)
        {
            Log.Error(ex, "Error while executing scheduled task {0}", action);
        }
    }

    private sealed class Entry(DueTimeScheduler owner, IRunnable action, ICancelable? cancelable, TimeSpan interval)
    {
        private Timer? _timer;
        private CancellationTokenRegistration _onCancel;
        private int _stopped;

        public IRunnable Action => action;

        public void Start(TimeSpan delay)
        {
            // Created before it can fire, so Fire and Stop always see it.
            _timer = new Timer(static s => ((Entry)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            // A cancelled item leaves the timer queue at once (a cancelled long timeout would otherwise stay until due).
            if (cancelable is not null) _onCancel = cancelable.Token.UnsafeRegister(static s => ((Entry)s!).Stop(), this);
            if (Volatile.Read(ref _stopped) == 0) _timer.Change(delay, interval);
        }

        private void Fire()
        {
            if (Volatile.Read(ref _stopped) != 0) return;
            if (cancelable is { IsCancellationRequested: true })
            {
                Stop();
                return;
            }
            if (interval == Timeout.InfiniteTimeSpan && !Stop()) return;
            owner.Run(action);
        }

        /// <summary>Takes the item off the timer queue; false when it was already off.</summary>
        public bool Stop()
        {
            if (Interlocked.Exchange(ref _stopped, 1) != 0) return false;
            _timer?.Dispose();
            _onCancel.Dispose();
            owner._pending.TryRemove(this, out _);
            return true;
        }
    }

    private sealed class Tell(ICanTell receiver, object message, IActorRef sender) : IRunnable
    {
        public void Run() => receiver.Tell(message, sender);
        public void Execute() => Run();
        public override string ToString() => $"[{receiver}.Tell({message}, {sender})]";
    }
}
