using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Internal;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>The Akka scheduler the runtime's hosts configure: due items run once, cancelled ones never, and nothing stays queued.</summary>
public sealed class DueTimeSchedulerTests(ITestOutputHelper output) : TestKit(Setup, output: output)
{
    private static readonly Config Setup = ConfigurationFactory.ParseString(
        "akka.scheduler.implementation = \"Actors.Runtime.Internal.DueTimeScheduler, Actors.Runtime\"");

    private DueTimeScheduler Scheduler => Assert.IsType<DueTimeScheduler>(Sys.Scheduler);

    [Fact]
    public void A_tell_arrives_once_after_its_delay_and_leaves_the_queue()
    {
        var probe = CreateTestProbe();
        ((ITellScheduler)Scheduler).ScheduleTellOnce(TimeSpan.FromMilliseconds(300), probe.Ref, "due", ActorRefs.NoSender);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(150));
        probe.ExpectMsg("due", TimeSpan.FromSeconds(5));
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(400));
        Assert.Equal(0, Scheduler.PendingCount);
    }

    [Fact]
    public void A_cancelled_tell_never_arrives_and_leaves_the_queue_at_once()
    {
        var probe = CreateTestProbe();
        var cancel = Scheduler.ScheduleTellOnceCancelable(TimeSpan.FromMilliseconds(200), probe.Ref, "cancelled", ActorRefs.NoSender);
        Assert.Equal(1, Scheduler.PendingCount);
        cancel.Cancel();
        Assert.Equal(0, Scheduler.PendingCount);
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(500));
    }

    [Fact]
    public void A_repeated_tell_repeats_until_cancelled()
    {
        var probe = CreateTestProbe();
        var cancel = Scheduler.ScheduleTellRepeatedlyCancelable(TimeSpan.FromMilliseconds(20), TimeSpan.FromMilliseconds(40), probe.Ref, "tick", ActorRefs.NoSender);
        for (int i = 0; i < 3; i++) probe.ExpectMsg("tick", TimeSpan.FromSeconds(5));
        cancel.Cancel();
        Assert.Equal(0, Scheduler.PendingCount);
        probe.ReceiveWhile(TimeSpan.FromMilliseconds(100), m => m); // a tick already on its way
        probe.ExpectNoMsg(TimeSpan.FromMilliseconds(300));
    }

    [Fact]
    public async Task Actions_run_and_actor_timers_fire()
    {
        var ran = new TaskCompletionSource();
        ((IActionScheduler)Scheduler).ScheduleOnce(TimeSpan.FromMilliseconds(10), () => ran.SetResult());
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(5));
        var probe = CreateTestProbe();
        Sys.ActorOf(Props.Create(() => new TimerActor(probe.Ref)));
        probe.ExpectMsg("timer", TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Disposing_runs_what_is_still_scheduled_once()
    {
        var scheduler = new DueTimeScheduler(Sys.Settings.Config, Sys.Log);
        int runs = 0, cancelledRuns = 0;
        ((IActionScheduler)scheduler).ScheduleOnce(TimeSpan.FromHours(1), () => Interlocked.Increment(ref runs));
        var cancel = new Cancelable((IActionScheduler)scheduler);
        ((IActionScheduler)scheduler).ScheduleOnce(TimeSpan.FromHours(1), () => Interlocked.Increment(ref cancelledRuns), cancel);
        cancel.Cancel();
        scheduler.Dispose();
        Assert.Equal(1, runs);
        Assert.Equal(0, cancelledRuns);
        Assert.Equal(0, scheduler.PendingCount);
        Assert.ThrowsAny<Exception>(() => ((IActionScheduler)scheduler).ScheduleOnce(TimeSpan.Zero, () => { }));
    }

    private sealed class TimerActor : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public TimerActor(IActorRef probe)
        {
            Receive<string>(m => probe.Tell(m));
        }

        protected override void PreStart() => Timers.StartSingleTimer("t", "timer", TimeSpan.FromMilliseconds(50));
    }
}
