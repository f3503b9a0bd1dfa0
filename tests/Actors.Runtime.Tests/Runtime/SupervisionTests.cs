using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// What a failed scheduler, stage or device does to the requests it held and to its replica: every
/// request ends with an error naming the fault, the replica leaves the router's rotation, readiness
/// reports it, and a stopped stage's disposed executor is never used again.
/// </summary>
public sealed class SupervisionTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static Generate Long(string id, int maxTokens = 200, int[]? prompt = null) => new()
    {
        RequestId = id,
        PromptTokens = prompt ?? [5, 6, 7, 8, 9, 10],
        MaxTokens = maxTokens,
        Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
    };

    private static RuntimeSetup With(WatchedDevice device) =>
        new() { DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = _ => device } };

    [Fact]
    public void A_stage_that_crashes_is_stopped_not_restarted_every_request_it_held_ends_with_an_error_and_its_replica_leaves_rotation()
    {
        var device = new WatchedDevice("cpu:0");
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime { warm-up = off, fault-injection { enabled = on, kill-stage-rate = 1 } }"), With(device));
        var outcomes = h.RunConcurrently([Long("a"), Long("b"), Long("c")], this);
        // The first step crashes the stage: every request the scheduler held by then ends with the error; one
        // that reached the router after the replica left rotation is refused (the scheduler runs on the device's
        // thread when that is idle, so the crash can come before all three are admitted).
        Assert.Contains(outcomes, o => o.Completed is not null);
        foreach (var o in outcomes)
        {
            if (o.Completed is null)
            {
                Assert.Equal(RejectionReason.Unavailable, o.Rejected!.Reason);
                continue;
            }
            Assert.Equal(FinishReason.Error, o.Completed.Reason);
            Assert.Contains("stage 0 stopped", o.Completed.Error);
        }
        var state = Assert.Single(h.Runtime.ReplicaStates());
        Assert.False(state.Healthy);
        var later = h.Run(Long("later"), this);
        Assert.Equal(RejectionReason.Unavailable, later.Rejected!.Reason);
        Assert.Contains("no healthy replica", later.Rejected.Message);
        AwaitAssert(() => Assert.Equal(1, device.DisposedStages), TimeSpan.FromSeconds(10));
        Assert.Equal(0, device.ForwardsAfterDispose);
    }

    [Fact]
    public void A_scheduler_that_crashes_ends_every_request_it_held_with_an_error_and_its_replica_leaves_rotation()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime { warm-up = off, fault-injection { enabled = on, kill-scheduler-rate = 1 } }"));
        var outcomes = h.RunConcurrently([Long("a"), Long("b")], this);
        foreach (var o in outcomes)
        {
            Assert.Equal(FinishReason.Error, o.Completed!.Reason);
            Assert.Contains("scheduler", o.Completed.Error);
        }
        Assert.False(Assert.Single(h.Runtime.ReplicaStates()).Healthy);
        Assert.Contains("crashed", h.Runtime.ReplicaStates()[0].Problem);
        Assert.Equal(RejectionReason.Unavailable, h.Run(Long("later"), this).Rejected!.Reason);
    }

    [Fact]
    public void A_sticky_device_fault_takes_its_replica_out_of_service_while_the_other_replica_serves()
    {
        const int poison = 299;
        var devices = new Dictionary<string, WatchedDevice>();
        var setup = new RuntimeSetup
        {
            DeviceFactories = new Dictionary<DeviceKind, DeviceFactory>
            {
                [DeviceKind.Cpu] = o => devices[o.Id] = new WatchedDevice(o.Id) { StickyOn = poison },
            },
        };
        using var h = new RuntimeHarness(RuntimeFixture.Config("""
            actors-runtime {
              warm-up = off
              devices = [ { id = "cpu:0", kind = cpu, threads = 1 }, { id = "cpu:1", kind = cpu, threads = 1 } ]
              layout.replicas = 2
            }
            """), setup);
        var bad = h.Run(Long("bad", 20, [5, poison, 7]), this);
        Assert.Equal(FinishReason.Error, bad.Completed!.Reason);
        Assert.Contains("simulated lost device context", bad.Completed.Error);
        var states = h.Runtime.ReplicaStates();
        var failed = Assert.Single(states, s => !s.Healthy);
        Assert.Contains("sticky fault", failed.Problem);
        // Every later request lands on the healthy replica.
        foreach (var o in h.RunConcurrently([Long("ok-1", 10), Long("ok-2", 10), Long("ok-3", 10)], this))
            Assert.Equal(FinishReason.Length, o.Completed!.Reason);
        Assert.Single(h.Runtime.ReplicaStates(), s => !s.Healthy);
        // The faulted device stopped its stage (disposed once, never used again).
        AwaitAssert(() => Assert.Equal(1, devices.Values.Sum(d => d.DisposedStages)), TimeSpan.FromSeconds(10));
        Assert.Equal(0, devices.Values.Sum(d => d.ForwardsAfterDispose));
    }

    [Fact]
    public void The_step_watchdog_fails_a_hung_step_and_the_replica_is_out_of_rotation_until_the_device_answers()
    {
        const int poison = 298;
        var device = new WatchedDevice("cpu:0") { HangOn = poison, HangTime = TimeSpan.FromSeconds(2) };
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime { warm-up = off, scheduler.step-timeout = 300ms }"), With(device));
        var probe = CreateTestProbe(h.System);
        h.Runtime.Router.Tell(Long("hung", 20, [5, poison, 7]), probe.Ref);
        var hung = RuntimeHarness.Collect(probe, "hung", TimeSpan.FromSeconds(1.5)); // well before the device wakes
        Assert.Equal(FinishReason.Error, hung.Completed!.Reason);
        Assert.Contains("step-timeout", hung.Completed.Error);
        Assert.False(h.Runtime.ReplicaStates()[0].Healthy);
        Assert.Equal(RejectionReason.Unavailable, h.Run(Long("meanwhile", 5), this).Rejected!.Reason);
        AwaitAssert(() => Assert.True(h.Runtime.ReplicaStates()[0].Healthy), TimeSpan.FromSeconds(10), TimeSpan.FromMilliseconds(50));
        Assert.Equal(FinishReason.Length, h.Run(Long("after", 5), this).Completed!.Reason);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void Nan_logits_end_the_request_with_an_error_and_emit_no_token()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime { warm-up = off, fault-injection { enabled = on, nan-logits-rate = 1 } }"));
        var outcome = h.Run(Long("nan", 20), this);
        Assert.Equal(FinishReason.Error, outcome.Completed!.Reason);
        Assert.Matches(@"^the model produced invalid logits on cpu:0: logit of token \d+ is NaN; logits must be finite or -infinity$", outcome.Completed.Error);
        Assert.Empty(outcome.Tokens);
        Assert.True(h.Runtime.ReplicaStates()[0].Healthy); // one sequence's fault, not the replica's
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void Nan_logits_of_one_sequence_end_only_that_request_the_others_in_the_batch_get_their_tokens()
    {
        const int poison = 297;
        var device = new WatchedDevice("cpu:0") { NanOn = poison };
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.warm-up = off"), With(device));
        var outcomes = h.RunConcurrently([Long("ok-1", 12), Long("bad", 12, [5, poison, 7]), Long("ok-2", 12)], this);
        Assert.Equal(FinishReason.Error, outcomes[1].Completed!.Reason);
        Assert.Contains("logit of token 0 is NaN", outcomes[1].Completed!.Error);
        Assert.Empty(outcomes[1].Tokens);
        foreach (var ok in new[] { outcomes[0], outcomes[2] })
        {
            Assert.Equal(FinishReason.Length, ok.Completed!.Reason);
            Assert.Equal(12, ok.Tokens.Count);
        }
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void Injected_step_errors_fail_only_the_requests_in_that_step_and_leave_no_block_behind()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime { warm-up = off, fault-injection { enabled = on, seed = 5, step-error-rate = 0.05 } }"));
        var outcomes = h.RunConcurrently(Enumerable.Range(0, 12).Select(i => Long($"r{i}", 30)).ToList(), this);
        Assert.All(outcomes, o => Assert.True(o.Completed!.Reason is FinishReason.Length or FinishReason.Error));
        Assert.All(outcomes.Where(o => o.Completed!.Reason == FinishReason.Error), o => Assert.Contains("injected fault", o.Completed!.Error));
        Assert.True(h.Runtime.ReplicaStates()[0].Healthy);
        h.AwaitAllBlocksFree(this);
    }
}
