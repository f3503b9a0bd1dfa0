namespace Actors.Inference.Cpu;

/// <summary>One unit of parallel work: <see cref="Execute"/> runs chunk <c>index</c> of <c>count</c>.</summary>
public interface IParallelWork
{
    void Execute(int index);
}

/// <summary>
/// A fork-join pool of dedicated threads owned by one CPU device, so device compute never runs on
/// the .NET thread pool (where Akka's dispatchers live). The calling thread takes part in every
/// run. Workers spin briefly between runs (a decode step issues hundreds of short parallel ops)
/// and then block, so an idle device costs no CPU. Chunks are claimed dynamically; callers must
/// make each chunk's result independent of which thread runs it (batch invariance depends on it).
/// Not reentrant: one <see cref="Run"/> at a time, from the owning thread.
/// </summary>
public sealed class CpuWorkerPool : IDisposable
{
    private const int SpinIterations = 20_000;

    private readonly Thread[] _threads;
    private readonly object _gate = new();
    private IParallelWork? _work;
    private int _count;
    private int _next;
    private int _pending;     // workers that have not yet finished the current generation
    private long _generation;
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
        _work = work;
        _count = count;
        _next = 0;
        _failure = null;
        Volatile.Write(ref _pending, _threads.Length);
        lock (_gate)
        {
            Interlocked.Increment(ref _generation);
            Monitor.PulseAll(_gate);
        }
        Drain(work, count);
        var spin = new SpinWait();
        while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(-1);
        _work = null;
        if (_failure is { } failure) throw new AggregateException("a CPU kernel failed", failure);
    }

    private void Drain(IParallelWork work, int count)
    {
        int i;
        while ((i = Interlocked.Increment(ref _next) - 1) < count)
        {
            try
            {
                work.Execute(i);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _failure, ex, null);
            }
        }
    }

    private void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            // Spin a little for the next generation before sleeping: consecutive ops arrive within µs.
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen && spins < SpinIterations && !_disposed)
            {
                Thread.SpinWait(8);
                spins++;
            }
            if (Volatile.Read(ref _generation) == seen)
            {
                lock (_gate)
                {
                    while (Volatile.Read(ref _generation) == seen && !_disposed) Monitor.Wait(_gate);
                }
            }
            if (_disposed) return;
            // Each generation is taken exactly once: Run waits for every worker before starting the next.
            seen = Volatile.Read(ref _generation);
            var work = _work;
            if (work != null) Drain(work, _count);
            Interlocked.Decrement(ref _pending);
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
