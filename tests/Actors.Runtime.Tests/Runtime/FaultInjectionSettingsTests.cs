using Akka.Configuration;
using Akka.Actor;
using Actors.Inference.Compute;
using Actors.Interop.Cuda;
using Actors.Runtime.Configuration;
using Actors.Runtime.Internal;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>The fault-injection, watchdog and request-lifetime keys, the injector's draws, sticky-fault classification and the supervision table.</summary>
public sealed class FaultInjectionSettingsTests
{
    private static RuntimeSettings From(string hocon) => RuntimeSettings.Create(ConfigurationFactory.ParseString(hocon));

    [Fact]
    public void Reference_conf_turns_fault_injection_off_and_sets_the_watchdog_and_reader_limits()
    {
        var s = RuntimeSettings.Create(Config.Empty);
        Assert.False(s.Faults.Enabled);
        Assert.False(s.Faults.AffectsSteps);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Scheduler.StepTimeout);
        Assert.Equal(TimeSpan.FromSeconds(60), s.Request.MaxPaused);
        Assert.Equal(TimeSpan.FromSeconds(30), s.Request.AdmissionTimeout);
    }

    [Fact]
    public void Fault_injection_keys_are_read_and_checked()
    {
        var s = From("actors-runtime.fault-injection { enabled = on, seed = 9, step-error-rate = 0.01, nan-logits-rate = 0.02, hang-rate = 0.03, hang-time = 1500ms }");
        Assert.True(s.Faults.AffectsSteps);
        Assert.Equal(9, s.Faults.Seed);
        Assert.Equal(0.02, s.Faults.NanLogitsRate);
        Assert.Equal(TimeSpan.FromMilliseconds(1500), s.Faults.HangTime);
        Assert.Contains("step-error-rate = 2 is out of range", Assert.Throws<InvalidConfigurationException>(() => From("actors-runtime.fault-injection.step-error-rate = 2")).Message);
        Assert.Contains("add up to more than 1", Assert.Throws<InvalidConfigurationException>(() =>
            From("actors-runtime.fault-injection { step-error-rate = 0.6, hang-rate = 0.6 }")).Message);
        Assert.Contains("did you mean actors-runtime.fault-injection.hang-rate", Assert.Throws<InvalidConfigurationException>(() =>
            From("actors-runtime.fault-injection.hang-rat = 0.1")).Message);
    }

    [Fact]
    public void The_injector_repeats_its_faults_for_a_seed_and_fires_at_about_the_configured_rates()
    {
        var o = From("actors-runtime.fault-injection { enabled = on, seed = 3, step-error-rate = 0.1, nan-logits-rate = 0.05, hang-rate = 0.02 }").Faults;
        var a = new FaultInjector(o, 1);
        var b = new FaultInjector(o, 1);
        var other = new FaultInjector(o, 2);
        var draws = Enumerable.Range(0, 100_000).Select(_ => a.NextStepFault(isLast: true)).ToList();
        Assert.Equal(draws.Take(1000), Enumerable.Range(0, 1000).Select(_ => b.NextStepFault(isLast: true)));
        Assert.NotEqual(draws.Take(1000), Enumerable.Range(0, 1000).Select(_ => other.NextStepFault(isLast: true)));
        Assert.InRange(draws.Count(f => f == InjectedFault.StepError), 9_500, 10_500);
        Assert.InRange(draws.Count(f => f == InjectedFault.NanLogits), 4_600, 5_400);
        Assert.InRange(draws.Count(f => f == InjectedFault.Hang), 1_750, 2_250);
        Assert.Equal(0, draws.Count(f => f is InjectedFault.KillStage or InjectedFault.StickyFault));
        // Only the last stage has logits to spoil.
        var middle = new FaultInjector(o, 1);
        Assert.DoesNotContain(InjectedFault.NanLogits, Enumerable.Range(0, 10_000).Select(_ => middle.NextStepFault(isLast: false)));
    }

    [Fact]
    public void A_lost_cuda_context_and_a_sticky_fault_are_sticky_other_failures_are_not()
    {
        Assert.True(DeviceFaults.IsSticky(new StickyDeviceFaultException("lost")));
        Assert.True(DeviceFaults.IsSticky(new CudaException(CudaApi.Driver, "cuLaunchKernel", 700, "CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered")));
        Assert.True(DeviceFaults.IsSticky(new InvalidOperationException("step failed",
            new CudaException(CudaApi.Driver, "cuCtxSynchronize", 719, "CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"))));
        Assert.False(DeviceFaults.IsSticky(new CudaException(CudaApi.Driver, "cuMemAlloc_v2", 2, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory")));
        Assert.False(DeviceFaults.IsSticky(new InvalidOperationException("simulated device fault")));
    }

    [Theory]
    [InlineData("llm-router", Directive.Resume)]
    [InlineData("llm-transfer", Directive.Restart)]
    [InlineData("llm-migrations", Directive.Restart)]
    [InlineData("llm-scheduler-0", Directive.Stop)]
    [InlineData("llm-device-cpu-0", Directive.Stop)]
    public void The_runtime_guardian_resumes_the_router_restarts_stateless_actors_and_stops_stateful_ones(string child, Directive expected) =>
        Assert.Equal(expected, RuntimeGuardian.DirectiveFor(child));
}
