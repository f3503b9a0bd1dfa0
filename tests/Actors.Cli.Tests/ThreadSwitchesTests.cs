using Actors.Cli.Bench;
using Xunit;

namespace Actors.Cli.Tests;

/// <summary>bench's context-switch counts: a device compute thread's waits are counted apart from every other thread's switches.</summary>
public class ThreadSwitchesTests
{
    [Theory]
    [InlineData("cpu-0-worker-3", true)]
    [InlineData("actors-runtime.", true)]
    [InlineData(".NET TP Worker", false)]
    [InlineData("some-helper", false)]
    public void Compute_threads_are_told_by_name(string name, bool compute) =>
        Assert.Equal(compute, ThreadSwitches.IsComputeThread(name));

    [Fact]
    public void A_worker_thread_that_sleeps_counts_as_compute_waits_and_another_thread_does_not()
    {
        if (!OperatingSystem.IsLinux()) return; // /proc only
        // Only the thread under test is read: other tests in this process run compute threads of their own.
        var compute = ThreadSwitchesDuring("cpu-97-worker-3");
        Assert.True(compute.ComputeWaits >= 20, $"a worker that slept 20 times: {compute}");
        Assert.Equal(0, compute.OtherSwitches);
        var other = ThreadSwitchesDuring("some-helper-97");
        Assert.True(other.OtherSwitches >= 20, $"another thread that slept 20 times: {other}");
        Assert.Equal(0, other.ComputeWaits + other.ComputePreemptions);
    }

    /// <summary>The switches of the thread of that name while it sleeps 20 times and is kept alive until read.</summary>
    private static ThreadSwitches ThreadSwitchesDuring(string name)
    {
        using var started = new ManualResetEventSlim();
        using var sleep = new ManualResetEventSlim();
        using var slept = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var thread = new Thread(() =>
        {
            started.Set();
            sleep.Wait();
            for (int i = 0; i < 20; i++) Thread.Sleep(1);
            slept.Set();
            release.Wait();
        }) { Name = name };
        thread.Start();
        started.Wait();
        var before = ThreadSwitches.Read(n => n == name);
        sleep.Set();
        slept.Wait();
        var after = ThreadSwitches.Read(n => n == name);
        release.Set();
        thread.Join();
        return after - before;
    }
}
