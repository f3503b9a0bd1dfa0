using System.Collections.Concurrent;
using Akka.Dispatch;
using Actors.Runtime.Internal;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>The device dispatcher's executor: one thread, tasks in order, woken after it blocked, drained at shutdown.</summary>
public sealed class DeviceThreadExecutorTests
{
    [Fact]
    public void Runs_every_task_in_order_on_one_dedicated_thread_named_after_the_dispatcher()
    {
        var executor = new DeviceThreadExecutor("actors-runtime.device-dispatchers.test", ex => throw ex);
        var seen = new ConcurrentQueue<(int Order, int Thread, bool Pool, string? Name)>();
        using var done = new CountdownEvent(200);
        for (int i = 0; i < 200; i++)
        {
            int order = i;
            executor.Execute(new ActionRunnable(() =>
            {
                seen.Enqueue((order, Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
                done.Signal();
            }));
            if (i % 50 == 0) Thread.Sleep(20); // long past the spin: the thread has blocked and must be woken
        }
        Assert.True(done.Wait(TimeSpan.FromSeconds(10)), "not every task ran");
        executor.Shutdown();
        Assert.Equal(Enumerable.Range(0, 200), seen.Select(s => s.Order));
        Assert.Single(seen.Select(s => s.Thread).Distinct());
        Assert.DoesNotContain(seen, s => s.Pool);
        Assert.Equal("actors-runtime.device-dispatchers.test", seen.First().Name);
    }

    [Fact]
    public void A_task_that_throws_is_reported_and_the_thread_carries_on()
    {
        var errors = new ConcurrentQueue<Exception>();
        var executor = new DeviceThreadExecutor("throws", errors.Enqueue);
        using var after = new ManualResetEventSlim();
        executor.Execute(new ActionRunnable(() => throw new InvalidOperationException("boom")));
        executor.Execute(new ActionRunnable(after.Set));
        Assert.True(after.Wait(TimeSpan.FromSeconds(10)));
        executor.Shutdown();
        Assert.Equal("boom", Assert.Single(errors).Message);
    }

    [Fact]
    public void Shutdown_runs_what_was_queued_then_rejects_new_tasks()
    {
        var executor = new DeviceThreadExecutor("shutdown", ex => throw ex);
        using var gate = new ManualResetEventSlim();
        using var last = new ManualResetEventSlim();
        executor.Execute(new ActionRunnable(() => gate.Wait(TimeSpan.FromSeconds(10))));
        executor.Execute(new ActionRunnable(last.Set));
        executor.Shutdown();
        gate.Set();
        Assert.True(last.Wait(TimeSpan.FromSeconds(10)), "a task queued before shutdown did not run");
        Assert.Throws<RejectedExecutionException>(() => executor.Execute(new ActionRunnable(() => { })));
    }
}
