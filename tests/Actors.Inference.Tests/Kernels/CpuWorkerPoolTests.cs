using Actors.Inference.Cpu;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The device's fork-join pool: every chunk runs exactly once per run, whichever thread claims it,
/// however late a worker wakes or whether it sleeps when the run starts.
/// </summary>
public class CpuWorkerPoolTests
{
    private sealed class CountingWork(int capacity) : IParallelWork
    {
        public readonly int[] Hits = new int[capacity];
        public readonly HashSet<int> Threads = new();
        public int SpinPerChunk;

        public void Execute(int index)
        {
            Interlocked.Increment(ref Hits[index]);
            lock (Threads) Threads.Add(Environment.CurrentManagedThreadId);
            if (SpinPerChunk > 0) Thread.SpinWait(SpinPerChunk);
        }
    }

    [Fact]
    public void Every_chunk_runs_exactly_once_in_every_run_of_random_sizes()
    {
        using var pool = new CpuWorkerPool(3, "test");
        var random = new Random(7);
        var work = new CountingWork(512);
        for (int run = 0; run < 5_000; run++)
        {
            int count = random.Next(0, 512);
            Array.Clear(work.Hits);
            work.SpinPerChunk = random.Next(0, 4) == 0 ? random.Next(1, 200) : 0;
            // Now and then wait past the workers' spin, so runs also start with workers asleep.
            if (run % 500 == 0) Thread.Sleep(2);
            pool.Run(count, work);
            for (int i = 0; i < count; i++)
                Assert.True(work.Hits[i] == 1, $"run {run}: chunk {i} of {count} ran {work.Hits[i]} times");
            for (int i = count; i < work.Hits.Length; i++) Assert.Equal(0, work.Hits[i]);
        }
    }

    [Fact]
    public void Workers_asleep_after_an_idle_pause_wake_and_take_chunks()
    {
        using var pool = new CpuWorkerPool(2, "test");
        var work = new CountingWork(64) { SpinPerChunk = 200_000 };
        bool workerTookPart = false;
        for (int attempt = 0; attempt < 20 && !workerTookPart; attempt++)
        {
            Thread.Sleep(5); // far past the spin time: the worker is asleep
            work.Threads.Clear();
            pool.Run(64, work);
            workerTookPart = work.Threads.Count == 2;
        }
        Assert.True(workerTookPart, "the sleeping worker never woke to share a run of 64 long chunks");
    }

    private sealed class FailingWork : IParallelWork
    {
        public void Execute(int index)
        {
            if (index == 5) throw new InvalidOperationException("chunk five failed");
        }
    }

    [Fact]
    public void A_failing_chunk_fails_the_run_and_the_next_run_succeeds()
    {
        using var pool = new CpuWorkerPool(2, "test");
        var error = Assert.Throws<AggregateException>(() => pool.Run(16, new FailingWork()));
        Assert.Contains("chunk five failed", error.InnerException!.Message);
        var work = new CountingWork(16);
        pool.Run(16, work);
        Assert.All(work.Hits, h => Assert.Equal(1, h));
    }

    [Fact]
    public void Dispose_returns_promptly_with_workers_asleep()
    {
        var pool = new CpuWorkerPool(4, "test");
        pool.Run(8, new CountingWork(8));
        Thread.Sleep(5);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        pool.Dispose();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"dispose took {watch.Elapsed.TotalMilliseconds:F0} ms");
        Assert.Throws<ObjectDisposedException>(() => pool.Run(2, new CountingWork(2)));
    }
}
