using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Protocol;
using Actors.Runtime.Transfer;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// Activations between pipeline stages go through the copy engine the transfer actor picks for the
/// path, and every transfer (stage boundaries and swap preemption) is accounted and published as metrics.
/// </summary>
public sealed class TransferPathTests(ITestOutputHelper output) : TestKit(output: output)
{
    /// <summary>Counts what it copies; the copy itself is the real one.</summary>
    private sealed class CountingEngine : ICopyEngine
    {
        public long Floats;
        public int Calls;
        public string Name => "counting";

        public void Copy(ReadOnlySpan<float> source, Span<float> destination)
        {
            Interlocked.Add(ref Floats, source.Length);
            Interlocked.Increment(ref Calls);
            source.CopyTo(destination);
        }
    }

    private static List<Generate> Requests(int n, int maxTokens) => Enumerable.Range(0, n).Select(i => new Generate
    {
        RequestId = $"t{i}",
        PromptTokens = Enumerable.Range(0, 12 + 5 * i).Select(k => 3 + (k * 37 + i * 11) % 300).ToArray(),
        MaxTokens = maxTokens,
        Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
    }).ToList();

    [Fact]
    public void Stage_boundaries_use_the_engine_of_their_path_and_are_accounted_and_published()
    {
        var engine = new CountingEngine();
        var setup = new RuntimeSetup { CopyEngines = new Dictionary<PathKind, ICopyEngine> { [PathKind.HostMemory] = engine } };
        using var h = new RuntimeHarness(RuntimeFixture.Config("""
            actors-runtime.devices = [ { id = "cpu:0", kind = cpu, threads = 1 }, { id = "cpu:1", kind = cpu, threads = 1 } ]
            actors-runtime.layout.pipeline = 2
            """), setup, "transfer-engine");
        var published = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, h.Runtime.Metrics.Meter) && instrument.Name.StartsWith("actors.transfer.", StringComparison.Ordinal))
                l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) =>
        {
            foreach (var t in tags) published.AddOrUpdate($"{i.Name}/{t.Value}", v, (_, old) => old + v);
        });
        listener.Start();
        // The runtime's warm-up request crossed the boundary at start-up: count from here.
        var totals = h.Runtime.Transfers.ByKind[PathKind.HostMemory];
        long floats0 = engine.Floats, calls0 = engine.Calls, bytes0 = totals.Bytes, count0 = totals.Count;

        var outcomes = h.RunConcurrently(Requests(3, 8), this);
        Assert.All(outcomes, o => Assert.Equal(8, o.Tokens.Count));

        int dim = h.Runtime.Model.Config.EmbeddingLength;
        long floats = engine.Floats - floats0, calls = engine.Calls - calls0;
        Assert.True(calls > 0, "the pipeline boundary never used the configured engine");
        Assert.Equal(0, floats % dim);
        // Every token of every request crosses the one boundary once (prompts in prefill, then 7 decode steps).
        long tokensCrossing = Requests(3, 8).Sum(r => r.PromptTokens!.Length + 7);
        Assert.Equal(tokensCrossing * dim, floats);
        Assert.Equal(4 * floats, totals.Bytes - bytes0);
        Assert.Equal(calls, totals.Count - count0);
        Assert.Equal(totals.Bytes - bytes0, published["actors.transfer.bytes/HostMemory"]);
        Assert.Equal(totals.Count - count0, published["actors.transfer.count/HostMemory"]);
        Assert.True(h.Runtime.Transfers.ByPair.ContainsKey(("cpu:0", "cpu:1")));
    }

    /// <summary>
    /// Auto mode on a CPU device: a host copy of a block takes microseconds, a recompute milliseconds
    /// per token, so once the prefill rate is measured the victims are swapped.
    /// </summary>
    [Theory]
    [InlineData("swap")]
    [InlineData("auto")]
    public void Swap_preemption_is_accounted_as_host_copies_of_whole_kv_blocks(string mode)
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config($"""
            actors-runtime.kv-cache.num-blocks = 10
            actors-runtime.scheduler.preemption-mode = {mode}
            """), name: "transfer-swap");
        var outcomes = h.RunConcurrently(Requests(4, 40), this);
        Assert.All(outcomes, o => Assert.Equal(40, o.Tokens.Count));
        var swaps = h.Runtime.Transfers.ByPair.Where(p => p.Key.To == "host").Select(p => p.Value).ToList();
        Assert.NotEmpty(swaps);
        Assert.True(h.Runtime.Transfers.ByKind.ContainsKey(PathKind.HostMemory), "a CPU device swaps over host memory");
        var c = h.Runtime.Model.Config;
        long blockBytes = 16 * c.KvBytesPerToken(4); // f32 K and V of every layer for a 16-token block
        Assert.All(swaps, s => Assert.Equal(0, s.Bytes % blockBytes));
        Assert.True(swaps.Sum(s => s.Bytes) > 0);
    }
}
