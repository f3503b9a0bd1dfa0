using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Inference.Synthetic;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>Cancel, deadline, requester death, rejections and device faults: clear answers, blocks released, others carry on.</summary>
public sealed class LifecycleTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static Generate Long(string id, int maxTokens = 3000) => new()
    {
        RequestId = id,
        PromptTokens = [5, 6, 7, 8, 9, 10],
        MaxTokens = maxTokens,
        Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
    };

    [Fact]
    public void Cancel_ends_the_request_as_cancelled_and_frees_its_blocks()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var probe = CreateTestProbe(h.System);
        h.Runtime.Router.Tell(Long("c1"), probe.Ref);
        probe.ExpectMsg<TokenChunk>(TimeSpan.FromSeconds(30));
        h.Runtime.Router.Tell(new Cancel("c1"), probe.Ref);
        var outcome = RuntimeHarness.Collect(probe, "c1");
        Assert.Equal(FinishReason.Cancelled, outcome.Completed!.Reason);
        Assert.True(outcome.Completed.Usage.CompletionTokens < 3000);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void A_passed_deadline_ends_the_request_with_reason_deadline()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var outcome = h.Run(Long("d1", 3000) with { DeadlineUtc = DateTime.UtcNow.AddMilliseconds(100) }, this);
        Assert.Equal(FinishReason.Deadline, outcome.Completed!.Reason);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void A_requester_that_dies_cancels_its_request()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var probe = CreateTestProbe(h.System);
        h.Runtime.Router.Tell(Long("gone"), probe.Ref);
        probe.ExpectMsg<TokenChunk>(TimeSpan.FromSeconds(30));
        h.System.Stop(probe.Ref);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void Stop_sequences_end_generation_and_are_not_emitted()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var free = h.Run(Long("free", 40), this);
        string stop = free.Text.Length > 6 ? free.Text.Substring(3, 3) : free.Text;
        var stopped = h.Run(Long("stopped", 40) with { Sampling = SamplingOptions.Greedy with { IgnoreEos = true, StopSequences = [stop] } }, this);
        Assert.Equal(FinishReason.Stop, stopped.Completed!.Reason);
        Assert.Equal(free.Text[..free.Text.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);
    }

    [Theory]
    [InlineData("temperature", "Temperature")]
    [InlineData("top-p", "TopP")]
    [InlineData("empty", "empty")]
    [InlineData("vocab", "outside the vocabulary")]
    public void Invalid_parameters_are_rejected_naming_the_problem(string kind, string expected)
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var request = kind switch
        {
            "temperature" => Long("bad") with { Sampling = new SamplingOptions { Temperature = -1 } },
            "top-p" => Long("bad") with { Sampling = new SamplingOptions { TopP = 1.5f } },
            "empty" => Long("bad") with { PromptTokens = [] },
            _ => Long("bad") with { PromptTokens = [1, 100000] },
        };
        var outcome = h.Run(request, this);
        Assert.Equal(RejectionReason.InvalidParameters, outcome.Rejected!.Reason);
        Assert.Contains(expected, outcome.Rejected.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_rejected()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var outcome = h.Run(Long("long") with { PromptTokens = Enumerable.Repeat(5, 5000).ToArray(), MaxTokens = 10 }, this);
        Assert.Equal(RejectionReason.PromptTooLong, outcome.Rejected!.Reason);
        Assert.Contains("5000", outcome.Rejected.Message);
    }

    [Fact]
    public void A_full_queue_rejects_with_queue_full_and_admits_the_rest()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.scheduler { max-waiting = 2, max-running-sequences = 1, max-batched-tokens = 64 }"));
        var requests = Enumerable.Range(0, 8).Select(i => Long($"q{i}", 20)).ToList();
        var outcomes = h.RunConcurrently(requests, this);
        Assert.Contains(outcomes, o => o.Rejected?.Reason == RejectionReason.QueueFull);
        Assert.Contains(outcomes, o => o.Completed?.Reason == FinishReason.Length);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void A_duplicate_request_id_is_rejected()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config());
        var outcomes = h.RunConcurrently([Long("same", 50), Long("same", 50)], this);
        Assert.Equal(RejectionReason.DuplicateRequestId, outcomes[1].Rejected!.Reason);
        h.Runtime.Router.Tell(new Cancel("same"));
    }

    [Fact]
    public void A_device_step_that_throws_fails_its_requests_and_others_carry_on()
    {
        const int poison = 299;
        var setup = new RuntimeSetup { DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = o => new FaultyDevice(o.Id, poison) } };
        using var h = new RuntimeHarness(RuntimeFixture.Config(), setup);
        var outcomes = h.RunConcurrently([Long("ok-1", 30), Long("bad") with { PromptTokens = [5, poison, 7] }, Long("ok-2", 30)], this);
        Assert.Equal(FinishReason.Error, outcomes[1].Completed!.Reason);
        Assert.Contains("simulated device fault", outcomes[1].Completed!.Error);
        // Requests batched with the poisoned one fail too (they shared the step); later ones run.
        var later = h.Run(Long("later", 10), this);
        Assert.Equal(FinishReason.Length, later.Completed!.Reason);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public void Random_requests_with_cancels_and_deadlines_leave_every_block_free()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.kv-cache.num-blocks = 24"));
        var rng = new DeterministicRandom(3);
        var probes = new List<(Akka.TestKit.TestProbe Probe, string Id)>();
        for (int i = 0; i < 60; i++)
        {
            var probe = CreateTestProbe(h.System);
            var prompt = Enumerable.Range(0, 1 + rng.NextInt(60)).Select(_ => 3 + rng.NextInt(300)).ToArray();
            var g = new Generate
            {
                RequestId = $"rnd-{i}",
                PromptTokens = prompt,
                MaxTokens = 1 + rng.NextInt(40),
                Priority = rng.NextInt(3),
                Sampling = new SamplingOptions { Temperature = 0.8f, Seed = (ulong)i, IgnoreEos = rng.NextInt(2) == 0 },
                DeadlineUtc = rng.NextInt(5) == 0 ? DateTime.UtcNow.AddMilliseconds(rng.NextInt(400)) : null,
            };
            h.Runtime.Router.Tell(g, probe.Ref);
            if (rng.NextInt(4) == 0) h.Runtime.Router.Tell(new Cancel(g.RequestId));
            probes.Add((probe, g.RequestId));
        }
        foreach (var (probe, id) in probes)
        {
            var o = RuntimeHarness.Collect(probe, id);
            Assert.True(o.Completed is not null || o.Rejected is not null);
        }
        h.AwaitAllBlocksFree(this);
    }
}

/// <summary>A configuration that asks for a GPU on a machine without one.</summary>
public sealed class CudaFallbackTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly RuntimeSetup NoGpu = new()
    {
        DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cuda] = _ => throw new InvalidOperationException("no CUDA device: libcuda.so.1 could not be loaded") },
    };

    [Fact]
    public void Without_fallback_start_up_stops_with_the_device_and_the_reason()
    {
        var ex = Assert.Throws<Actors.Runtime.Configuration.InvalidConfigurationException>(() =>
            new RuntimeHarness(RuntimeFixture.Config("actors-runtime.devices = [ { id = \"cuda:0\", kind = cuda } ]"), NoGpu, "no-gpu").Dispose());
        Assert.Contains("cuda:0", ex.Message);
        Assert.Contains("no CUDA device", ex.Message);
        Assert.Contains("cuda-fallback = cpu", ex.Message);
    }

    [Fact]
    public void With_fallback_the_stages_run_on_the_cpu()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.devices = [ { id = \"cuda:0\", kind = cuda } ]\nactors-runtime.cuda-fallback = cpu"), NoGpu, "fallback");
        var outcome = h.Run(new Generate { RequestId = "f", PromptTokens = [4, 5, 6], MaxTokens = 4, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } }, this);
        Assert.Equal(FinishReason.Length, outcome.Completed!.Reason);
    }
}

/// <summary>CPU and CUDA devices open from configuration alone (no factory given), as in any hosted app.</summary>
public sealed class BuiltInDeviceTests(ITestOutputHelper output) : TestKit(output: output)
{
    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda:x")]
    [InlineData("gpu:0")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:0:1")]
    public void A_cuda_id_that_is_not_cuda_colon_ordinal_is_a_configuration_error_naming_it(string id)
    {
        var ex = Assert.Throws<Actors.Runtime.Configuration.InvalidConfigurationException>(() => BuiltInDevices.CudaOrdinal(id));
        Assert.Contains($"\"{id}\"", ex.Message);
        Assert.Equal(3, BuiltInDevices.CudaOrdinal("cuda:3"));
    }

    [Fact]
    public void A_cuda_device_in_the_configuration_is_opened_by_the_runtime_itself()
    {
        var config = RuntimeFixture.Config("actors-runtime.devices = [ { id = \"cuda:0\", kind = cuda } ]");
        var cuda = Actors.Interop.Cuda.CudaAvailability.Probe();
        if (!cuda.IsAvailable)
        {
            // No GPU here: the runtime's own CUDA factory ran and says why, naming the device.
            var ex = Assert.Throws<Actors.Runtime.Configuration.InvalidConfigurationException>(() => new RuntimeHarness(config, name: "builtin-cuda").Dispose());
            Assert.Contains("cuda:0", ex.Message);
            Assert.Contains("no CUDA device", ex.Message);
            return;
        }
        using var h = new RuntimeHarness(config, name: "builtin-cuda");
        Assert.Equal(DeviceKind.Cuda, Assert.Single(h.Runtime.Devices).Kind);
        var outcome = h.Run(new Generate { RequestId = "g", PromptTokens = [4, 5, 6], MaxTokens = 4, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } }, this);
        Assert.Equal(FinishReason.Length, outcome.Completed!.Reason);
    }
}
