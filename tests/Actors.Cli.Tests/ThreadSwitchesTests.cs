using Actors.Cli.Bench;
using Xunit;

namespace Actors.Cli.Tests;

/// <summary>bench's context-switch counts: a device compute thread's waits are counted apart from every other thread's switches.</summary>
public class ThreadSwitchesTests
{
    [Fact]
    public void A_worker_thread_that_sleeps_counts_as_compute_waits_and_another_thread_does_not()
    {
        if (!OperatingSystem.IsLinux()) return; // /proc only
        var compute = ThreadSwitchesDuring("cpu-9-worker-1");
        Assert.True(compute.ComputeWaits >= 20, $"a worker that slept 20 times: {compute}");
        var other = ThreadSwitchesDuring("some-helper");
        Assert.True(other.OtherSwitches >= 20, $"another thread that slept 20 times: {other}");
        Assert.True(other.ComputeWaits < 20, $"another thread's sleeps counted as compute waits: {other}");
    }

    /// <summary>The switches seen while a thread of that name sleeps 20 times and is kept alive until read.</summary>
    private static ThreadSwitches ThreadSwitchesDuring(string name)
    {
        using var slept = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            for (int i = 0; i < 20; i++) Thread.Sleep(1);
            slept.Set();
            release.Wait();
        }) { Name = name };
        var before = ThreadSwitches.Read();
        thread.Start();
        slept.Wait();
        var after = ThreadSwitches.Read();
        release.Set();
        thread.Join();
        return after - before;
    }
}
