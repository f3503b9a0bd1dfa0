using System.Collections.Concurrent;
using Akka.Dispatch;
using Actors.Runtime.Internal;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A device's thread: its own work in order on it, guests (schedulers) on it only while it has no
/// device work, so a hung step never holds up a scheduler; woken after it blocked; drained when disposed.
/// </summary>
public sealed class DeviceThreadWorkTests
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(10);

    private static DeviceThread NewThread(string name, ConcurrentQueue<Exception>? errors = null) =>
        new(name, ex => (errors ?? throw ex).Enqueue(ex));

    [Fact]
    public void Device_work_runs_in_order_on_one_dedicated_thread_named_after_its_dispatcher()
    {
        using var thread = NewThread("actors-runtime.device-dispatchers.test");
        var seen = new ConcurrentQueue<(int Order, int Thread, bool Pool, string? Name)>();
        using var done = new CountdownEvent(200);
        for (int i = 0; i < 200; i++)
        {
            int order = i;
            thread.Post(new ActionRunnable(() =>
            {
                seen.Enqueue((order, Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread, Thread.CurrentThread.Name));
                done.Signal();
            }));
            if (i % 50 == 0) Thread.Sleep(20); // long past the spin: the thread has blocked and must be woken
        }
        Assert.True(done.Wait(Long), "not every task ran");
        Assert.Equal(Enumerable.Range(0, 200), seen.Select(s => s.Order));
        Assert.Single(seen.Select(s => s.Thread).Distinct());
        Assert.DoesNotContain(seen, s => s.Pool);
        Assert.Equal("actors-runtime.device-dispatchers.test", seen.First().Name);
    }

    [Fact]
    public void A_guest_posted_while_the_thread_is_idle_runs_on_the_device_thread()
    {
        using var thread = NewThread("idle");
        int deviceThread = 0, guestThread = -1;
        using var ran = new ManualResetEventSlim();
        thread.Post(new ActionRunnable(() => deviceThread = Environment.CurrentManagedThreadId));
        Thread.Sleep(20);
        thread.PostGuest(new ActionRunnable(() =>
        {
            guestThread = Environment.CurrentManagedThreadId;
            ran.Set();
        }));
        Assert.True(ran.Wait(Long));
        Assert.Equal(deviceThread, guestThread);
    }

    [Fact]
    public void A_guest_posted_by_device_work_runs_right_after_it_on_the_device_thread()
    {
        using var thread = NewThread("reply");
        var order = new ConcurrentQueue<(string What, int Thread)>();
        using var ran = new ManualResetEventSlim();
        thread.Post(new ActionRunnable(() =>
        {
            thread.PostGuest(new ActionRunnable(() =>
            {
                order.Enqueue(("guest", Environment.CurrentManagedThreadId));
                ran.Set();
            }));
            thread.Post(new ActionRunnable(() => order.Enqueue(("device", Environment.CurrentManagedThreadId))));
            order.Enqueue(("step", Environment.CurrentManagedThreadId));
        }));
        Assert.True(ran.Wait(Long));
        SpinWait.SpinUntil(() => order.Count == 3, Long);
        Assert.Equal(["step", "guest", "device"], order.Select(o => o.What));
        Assert.Single(order.Select(o => o.Thread).Distinct());
    }

    [Fact]
    public void A_guest_is_never_held_up_by_device_work_that_hangs()
    {
        using var thread = NewThread("hung");
        using var hang = new ManualResetEventSlim();
        using var started = new ManualResetEventSlim();
        thread.Post(new ActionRunnable(() =>
        {
            started.Set();
            hang.Wait(Long);
        }));
        Assert.True(started.Wait(Long));
        using var ran = new ManualResetEventSlim();
        bool onPool = false;
        thread.PostGuest(new ActionRunnable(() =>
        {
            onPool = Thread.CurrentThread.IsThreadPoolThread;
            ran.Set();
        }));
        Assert.True(ran.Wait(TimeSpan.FromSeconds(5)), "the guest waited for the hung device work");
        Assert.True(onPool);
        hang.Set();
    }

    [Fact]
    public void A_task_that_throws_is_reported_and_the_thread_carries_on()
    {
        var errors = new ConcurrentQueue<Exception>();
        using var thread = NewThread("throws", errors);
        using var after = new ManualResetEventSlim();
        thread.Post(new ActionRunnable(() => throw new InvalidOperationException("boom")));
        thread.Post(new ActionRunnable(after.Set));
        Assert.True(after.Wait(Long));
        Assert.Equal("boom", Assert.Single(errors).Message);
    }

    [Fact]
    public void Dispose_runs_what_was_queued_then_rejects_device_work_and_sends_guests_to_the_pool()
    {
        var thread = NewThread("stop");
        using var gate = new ManualResetEventSlim();
        using var last = new ManualResetEventSlim();
        thread.Post(new ActionRunnable(() => gate.Wait(Long)));
        thread.Post(new ActionRunnable(last.Set));
        var disposing = Task.Run(thread.Dispose);
        gate.Set();
        Assert.True(last.Wait(Long), "work queued before the thread stopped did not run");
        Assert.True(disposing.Wait(Long));
        Assert.Throws<RejectedExecutionException>(() => thread.Post(new ActionRunnable(() => { })));
        using var guest = new ManualResetEventSlim();
        thread.PostGuest(new ActionRunnable(guest.Set));
        Assert.True(guest.Wait(Long));
        Assert.Throws<InvalidOperationException>(() => DeviceThread.Find(thread.Key));
    }
}
