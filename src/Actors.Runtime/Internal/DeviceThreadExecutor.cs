using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Configuration;
using Akka.Dispatch;

namespace Actors.Runtime.Internal;

/// <summary>
/// The executor of a device's dispatcher: one dedicated thread that runs the device's mailboxes in
/// order, spins briefly when its queue runs dry, then blocks until the next one arrives. Akka's
/// dedicated thread pool (ForkJoinDispatcher) instead yields its core in a loop (Thread.Sleep(0), about
/// a hundred times) before it blocks, so between two steps the device thread kept asking for a core
/// that the scheduler's thread (which makes the next step) and the compute workers needed; on a
/// machine with few cores every step paid for it.
/// </summary>
internal sealed class DeviceThreadExecutor : ExecutorService
{
    /// <summary>
    /// How long the thread spins for the next mailbox before it blocks: long enough for a message
    /// that answers the one just run on this thread (a stage's next op, a KV copy queued behind a step),
    /// far shorter than the scheduler's turn between two steps, so the thread leaves the core to it.
    /// </summary>
    public static readonly TimeSpan SpinTime = SpinFromEnvironment() ?? TimeSpan.FromMicroseconds(5);
    private static readonly long SpinTicks = (long)(SpinTime.TotalSeconds * Stopwatch.Frequency);

    private readonly ConcurrentQueue<IRunnable> _queue = new();
    private readonly object _gate = new();
    private readonly Thread _thread;
    private readonly Action<Exception> _onError;
    private int _sleeping;
    private volatile bool _shutdown;

    public DeviceThreadExecutor(string id, Action<Exception> onError) : base(id)
    {
        _onError = onError;
        _thread = new Thread(Loop) { IsBackground = true, Name = id };
        _thread.Start();
    }

    public override void Execute(IRunnable run)
    {
        if (_shutdown) throw new RejectedExecutionException($"the device thread of {Id} has shut down");
        _queue.Enqueue(run);
        // Enqueue is a full fence, and the sleeper counts itself before its last look at the queue,
        // so either it sees this item or this sees it asleep and wakes it.
        if (Volatile.Read(ref _sleeping) > 0)
        {
            lock (_gate) Monitor.Pulse(_gate);
        }
    }

    public override void Shutdown()
    {
        lock (_gate)
        {
            _shutdown = true;
            Monitor.Pulse(_gate);
        }
    }

    private void Loop()
    {
        while (true)
        {
            while (_queue.TryDequeue(out var run))
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
            if (_shutdown && _queue.IsEmpty) return;
            if (Spin()) continue;
            lock (_gate)
            {
                Interlocked.Increment(ref _sleeping);
                while (_queue.IsEmpty && !_shutdown) Monitor.Wait(_gate);
                Interlocked.Decrement(ref _sleeping);
            }
        }
    }

    /// <summary>True when work arrived within <see cref="SpinTime"/>.</summary>
    private bool Spin()
    {
        if (SpinTicks <= 0) return false;
        long until = Stopwatch.GetTimestamp() + SpinTicks;
        do
        {
            if (!_queue.IsEmpty) return true;
            Thread.SpinWait(16);
        }
        while (Stopwatch.GetTimestamp() < until);
        return !_queue.IsEmpty;
    }

    /// <summary>ACTORS_DEVICE_SPIN_US overrides the spin (measurements only).</summary>
    private static TimeSpan? SpinFromEnvironment() =>
        int.TryParse(Environment.GetEnvironmentVariable("ACTORS_DEVICE_SPIN_US"), out int us) && us >= 0 ? TimeSpan.FromMicroseconds(us) : null;
}

/// <summary>Makes a <see cref="DeviceThreadExecutor"/> for a dispatcher whose config names this type as its executor.</summary>
internal sealed class DeviceThreadExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : ExecutorServiceConfigurator(config, prerequisites)
{
    public override ExecutorService Produce(string id) => new DeviceThreadExecutor(id,
        ex => Prerequisites.EventStream.Publish(new Akka.Event.Error(ex, id, typeof(DeviceThreadExecutor), $"{id}: a task failed on the device thread: {ex.Message}")));
}
