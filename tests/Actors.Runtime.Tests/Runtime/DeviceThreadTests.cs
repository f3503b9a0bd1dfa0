using System.Collections.Concurrent;
using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>Device work runs on each device's own thread, never on the .NET thread pool (Akka's default dispatcher).</summary>
public sealed class DeviceThreadTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly ConcurrentDictionary<string, ConcurrentBag<(int Thread, bool Pool)>> Seen = new();

    private sealed class RecordingDevice(string id) : DelegatingDevice(id, 1)
    {
        protected override void BeforeForward(StepBatch batch) =>
            Seen.GetOrAdd(Descriptor.Id, _ => new()).Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread));
    }

    [Fact]
    public void Every_stage_runs_on_its_devices_one_dedicated_thread()
    {
        Seen.Clear();
        var setup = new RuntimeSetup { DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = o => new RecordingDevice(o.Id) } };
        // Two replicas of two stages on two devices: each device hosts one stage of each replica.
        string config = """
            actors-runtime.devices = [ { id = "cpu:0", kind = cpu }, { id = "cpu:1", kind = cpu } ]
            actors-runtime.layout.stages = [
              { replica = 0, device = "cpu:0" }, { replica = 0, device = "cpu:1" },
              { replica = 1, device = "cpu:0" }, { replica = 1, device = "cpu:1" } ]
            """;
        using var h = new RuntimeHarness(RuntimeFixture.Config(config), setup, "threads");
        var requests = Enumerable.Range(0, 6).Select(i => new Generate { RequestId = $"t{i}", PromptTokens = [3 + i, 4, 5], MaxTokens = 6, Sampling = SamplingOptions.Greedy }).ToList();
        Assert.All(h.RunConcurrently(requests, this), o => Assert.NotNull(o.Completed));
        Assert.Equal(2, Seen.Count);
        foreach (var (device, calls) in Seen)
        {
            Assert.DoesNotContain(calls, c => c.Pool);
            Assert.Single(calls.Select(c => c.Thread).Distinct());
        }
        Assert.NotEqual(Seen["cpu:0"].First().Thread, Seen["cpu:1"].First().Thread);
    }
}
