using System.Collections.Concurrent;
using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>Device work runs on each device's own thread, never on the .NET thread pool (Akka's default dispatcher).</summary>
public sealed class DeviceThreadTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly ConcurrentDictionary<string, ConcurrentBag<(int Thread, bool Pool)>> Seen = new();

    private sealed class RecordingDevice(string id) : IComputeDevice
    {
        private readonly CpuDevice _inner = new(id, 1);
        public DeviceDescriptor Descriptor => _inner.Descriptor;
        public long EstimateStageBytes(LlamaModel m, LayerRange l, KvCacheSpec kv, int t) => _inner.EstimateStageBytes(m, l, kv, t);
        public IStageExecutor LoadStage(LlamaModel m, LayerRange l, KvCacheSpec kv, int t) => new Stage(_inner.LoadStage(m, l, kv, t), id);
        public void Dispose() => _inner.Dispose();

        private sealed class Stage(IStageExecutor inner, string device) : IStageExecutor
        {
            public LayerRange Layers => inner.Layers;
            public bool IsFirst => inner.IsFirst;
            public bool IsLast => inner.IsLast;
            public int HiddenSize => inner.HiddenSize;
            public int VocabSize => inner.VocabSize;
            public KvCacheSpec Kv => inner.Kv;
            public int KvBlockBytes => inner.KvBlockBytes;
            public void Forward(StepBatch b, ReadOnlySpan<float> h, Span<float> o)
            {
                Seen.GetOrAdd(device, _ => new()).Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread));
                inner.Forward(b, h, o);
            }
            public void ReadKvBlock(int block, Span<byte> d) => inner.ReadKvBlock(block, d);
            public void WriteKvBlock(int block, ReadOnlySpan<byte> s) => inner.WriteKvBlock(block, s);
            public void CopyKvBlock(int s, int d) => inner.CopyKvBlock(s, d);
            public void Dispose() => inner.Dispose();
        }
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
