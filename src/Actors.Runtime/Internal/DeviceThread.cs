using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Dispatch;

namespace Actors.Runtime.Internal;

/// <summary>
/// A device's own thread. It runs the device's mailboxes (its device and stage actors, through
/// <see cref="DeviceThreadExecutor"/>) and, while it has nothing of the device's to do, its guests:
/// the schedulers of the replicas placed on the device alone, on CPU devices (<see cref="GuestExecutor"/>;
/// LlmRuntime says why not on others). A step's result then goes from the stage to its scheduler and
/// the next step back to the stage on this one thread, waking no other; before, each step woke a
/// thread-pool thread for the scheduler and this thread again for the stage (~45 µs at the median,
/// 4 % of a 21M model's step on 2 cores).
/// A guest is never held up by device work: a guest posted while the thread runs device work, and every
/// guest waiting when device work starts, goes to the .NET thread pool (Akka's default dispatcher) as
/// before, so a hung step cannot hold up its scheduler (whose watchdog must fail it).
/// When both queues are empty the thread spins briefly, then blocks (Akka's dedicated pool instead
/// yields its core in a loop, Thread.Sleep(0) about a hundred times, taking a core from the threads
/// that make the next step).
/// </summary>
internal sealed class DeviceThread : IDisposable
{
    /// <summary>
    /// How long the thread spins for more work before it blocks: enough for the next message of a
    /// conversation this thread is in (a step's result to the scheduler, its next step back), far less
    /// than the gap to work that comes from elsewhere, so the thread leaves the core to whoever makes it.
    /// </summary>
    public static readonly TimeSpan SpinTime = TimeSpan.FromMicroseconds(5);
    private static readonly long SpinTicks = (long)(SpinTime.TotalSeconds * Stopwatch.Frequency);
    private static readonly ConcurrentDictionary<string, DeviceThread> Registry = new();

    private readonly ConcurrentQueue<IRunnable> _own = new(), _guests = new();
    private readonly object _gate = new();
    private readonly Thread _thread;
    private readonly Action<Exception> _onError;
    private int _sleeping;
    /// <summary>1 while the thread runs device work (from <see cref="Post"/>), which may take long.</summary>
    private int _busy;
    private volatile bool _stopped;

    /// <summary>The key under which <see cref="Find"/> finds this thread (device dispatchers' configs name it).</summary>
    public string Key { get; } = Guid.NewGuid().ToString("N");
    public string Name { get; }

    public DeviceThread(string name, Action<Exception> onError)
    {
        Name = name;
        _onError = onError;
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        Registry[Key] = this;
        _thread.Start();
    }

    public static DeviceThread Find(string key) =>
        Registry.TryGetValue(key, out var thread) ? thread : throw new InvalidOperationException($"no device thread {key} (its runtime has stopped)");

    /// <summary>Device work: runs on this thread, in order.</summary>
    public void Post(IRunnable run)
    {
        if (_stopped) throw new RejectedExecutionException($"the device thread {Name} has stopped");
        _own.Enqueue(run);
        Wake();
    }

    /// <summary>A guest's work: on this thread if it is not running device work, else on the thread pool.</summary>
    public void PostGuest(IRunnable run)
    {
        bool here = Thread.CurrentThread == _thread; // posted by the device work running now: it runs right after
        if (_stopped || (!here && Volatile.Read(ref _busy) == 1))
        {
            ThreadPool.UnsafeQueueUserWorkItem(run, preferLocal: false);
            return;
        }
        _guests.Enqueue(run);
        // Device work may have started since the check (and moved the guests it saw away): move what it missed.
        if (!here && Volatile.Read(ref _busy) == 1) MoveGuestsToPool();
        Wake();
    }

    private void Wake()
    {
        // Enqueue is a full fence, and a sleeper counts itself before its last look at the queues,
        // so either it sees the item or this sees it asleep and wakes it.
        if (Volatile.Read(ref _sleeping) > 0)
        {
            lock (_gate) Monitor.Pulse(_gate);
        }
    }

    private void MoveGuestsToPool()
    {
        while (_guests.TryDequeue(out var guest)) ThreadPool.UnsafeQueueUserWorkItem(guest, preferLocal: false);
    }

    private void Loop()
    {
        while (true)
        {
            if (_guests.TryDequeue(out var guest))
            {
                Run(guest);
                continue;
            }
            if (_own.TryDequeue(out var run))
            {
                Interlocked.Exchange(ref _busy, 1);
                MoveGuestsToPool();
                Run(run);
                Volatile.Write(ref _busy, 0);
                continue;
            }
            if (_stopped)
            {
                MoveGuestsToPool();
                return;
            }
            if (Spin()) continue;
            lock (_gate)
            {
                Interlocked.Increment(ref _sleeping);
                while (_own.IsEmpty && _guests.IsEmpty && !_stopped) Monitor.Wait(_gate);
                Interlocked.Decrement(ref _sleeping);
            }
        }
    }

    private void Run(IRunnable run)
    {
        try
        {
            run.Run();
        }
        catch (Exception ex)
        {
            _onError(ex); // an actor's own failure goes to its supervisor; this is anything else, and the thread carries on
        }
    }

    /// <summary>True when work arrived within <see cref="SpinTime"/>.</summary>
    private bool Spin()
    {
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        do
        {
            if (!_own.IsEmpty || !_guests.IsEmpty) return true;
            Thread.SpinWait(16);
        }
        while (Stopwatch.GetTimestamp() < until);
        return !_own.IsEmpty || !_guests.IsEmpty;
    }

    /// <summary>Runs what is queued, then ends the thread (after the actor system has terminated: no actor is left to post).</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopped = true;
            Monitor.Pulse(_gate);
        }
        Registry.TryRemove(Key, out _);
        if (Thread.CurrentThread != _thread) _thread.Join(TimeSpan.FromSeconds(5));
    }
}
