using System.Diagnostics;

namespace Actors.Inference.Cpu;

/// <summary>One unit of parallel work: <see cref="Execute"/> runs chunk <c>index</c> of <c>count</c>.</summary>
public interface IParallelWork
{
    void Execute(int index);
}

/// <summary>
/// A fork-join pool of dedicated threads owned by one CPU device, so device compute never runs on
/// the .NET thread pool (where Akka's dispatchers live). The calling thread takes part in every
/// run and claims chunks like any worker; a run ends when every chunk is done, not when every
/// worker has checked in, so a worker that is asleep or descheduled when a run starts costs
/// nothing: the others take its share. Workers spin for <see cref="SpinTime"/> of their own time
/// after their last chunk (the ops of one forward pass follow each other within microseconds) and then sleep, so
/// between steps, and on an idle device, they leave the cores to the threads that drive the steps.
/// Chunks are claimed dynamically; callers must make each chunk's result independent of which
/// thread runs it (batch invariance depends on it).
/// Not reentrant: one <see cref="Run"/> at a time, from the owning thread.
/// </summary>
public sealed class CpuWorkerPool : IDisposable
{
    /// <summary>How long an idle worker spins for the next run before it sleeps.</summary>
    public static readonly TimeSpan SpinTime = TimeSpan.FromMicroseconds(100);
    private static readonly long SpinTicks = (long)(SpinTime.TotalSeconds * Stopwatch.Frequency);
    /// <summary>The most one spin step counts for (a step takes about a microsecond; longer means the thread lost its core).</summary>
    private static readonly long MaxSpinStepTicks = Math.Max(1, Stopwatch.Frequency / 100_000);

    private readonly Thread[] _threads;
    private readonly object _gate = new();
    /// <summary>The run in progress: its generation in the high 32 bits, the next unclaimed chunk in the low 32.</summary>
    private long _claim;
    /// <summary>The work and chunk count of a generation, in the slot of its parity: a late worker that read an old
    /// generation can only claim (and so run) a chunk while that generation is still the current one.</summary>
    private readonly IParallelWork?[] _work = new IParallelWork?[2];
    private readonly int[] _count = new int[2];
    private uint _generation;
    private int _done;        // chunks of the current generation finished
    private int _sleeping;    // workers asleep on _gate (the caller signals only when there are some)
    private volatile bool _disposed;
    private Exception? _failure;

    public int ThreadCount { get; }

    public CpuWorkerPool(int threads, string name = "cpu")
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), $"thread count must be at least 1, got {threads}");
        ThreadCount = threads;
        _threads = new Thread[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"{name}-worker-{i + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs work.Execute(0..count-1) across the pool and the calling thread; returns when all are done.</summary>
    public void Run(int count, IParallelWork work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (count <= 0) return;
        if (_threads.Length == 0 || count == 1)
        {
            for (int i = 0; i < count; i++) work.Execute(i);
            return;
        }
        uint generation = ++_generation;
        int slot = (int)(generation & 1);
        _work[slot] = work;
        _count[slot] = count;
        _failure = null;
        _done = 0;
        Interlocked.Exchange(ref _claim, (long)generation << 32); // publishes the slot (a full fence)
        if (Volatile.Read(ref _sleeping) > 0)
        {
            lock (_gate) Monitor.PulseAll(_gate);
        }
        Drain(generation, work, count);
        // Only chunks other threads claimed and are still running remain.
        var spin = new SpinWait();
        while (Volatile.Read(ref _done) < count) spin.SpinOnce(-1);
        _work[slot] = null;
        if (_failure is { } failure) throw new AggregateException("a CPU kernel failed", failure);
    }

    private void Drain(uint generation, IParallelWork work, int count)
    {
        while (true)
        {
            long claim = Volatile.Read(ref _claim);
            if ((uint)(claim >> 32) != generation) return;
            int i = (int)(uint)claim;
            if (i >= count) return;
            if (Interlocked.CompareExchange(ref _claim, claim + 1, claim) != claim) continue;
            try
            {
                work.Execute(i);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _failure, ex, null);
            }
            Interlocked.Increment(ref _done);
        }
    }

    private void WorkerLoop()
    {
        uint seen = 0;
        long spun = 0, last = Stopwatch.GetTimestamp();
        while (!_disposed)
        {
            uint generation = (uint)(Volatile.Read(ref _claim) >> 32);
            if (generation != seen)
            {
                seen = generation;
                int slot = (int)(generation & 1);
                var work = Volatile.Read(ref _work[slot]);
                int count = Volatile.Read(ref _count[slot]);
                if (work != null) Drain(generation, work, count);
                spun = 0;
                last = Stopwatch.GetTimestamp();
                continue;
            }
            // Count only time spent spinning: a long gap between two checks is the OS running something
            // else on this core, and a worker that just got its core back should not sleep at once (on a
            // loaded machine it would then sleep at nearly every op and wait to be woken for the next).
            long now = Stopwatch.GetTimestamp();
            spun += Math.Min(now - last, MaxSpinStepTicks);
            last = now;
            if (spun < SpinTicks)
            {
                Thread.SpinWait(16);
                continue;
            }
            Sleep(seen);
            spun = 0;
            last = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Blocks until a generation after <paramref name="seen"/> starts (or the pool is disposed).</summary>
    private void Sleep(uint seen)
    {
        lock (_gate)
        {
            // Counted before the check: Run publishes its generation, then reads the count (both fenced),
            // so either this check sees the new generation or Run sees a sleeper and pulses.
            Interlocked.Increment(ref _sleeping);
            while ((uint)(Volatile.Read(ref _claim) >> 32) == seen && !_disposed) Monitor.Wait(_gate);
            Interlocked.Decrement(ref _sleeping);
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        lock (_gate)
        {
            _disposed = true;
            Monitor.PulseAll(_gate);
        }
        foreach (var t in _threads) t.Join(TimeSpan.FromSeconds(5));
    }
}
