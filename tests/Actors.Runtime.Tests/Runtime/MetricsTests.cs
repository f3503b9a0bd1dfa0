using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>The runtime publishes its numbers through System.Diagnostics.Metrics, as OpenTelemetry or dotnet-counters read them.</summary>
public sealed class MetricsTests(ITestOutputHelper output) : TestKit(output: output)
{
    [Fact]
    public void Every_instrument_reports_while_requests_run()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.kv-cache.num-blocks = 24"), name: "metrics");
        var seen = new ConcurrentDictionary<string, double>();
        using var listener = new MeterListener();
        // Only this runtime's meter: other tests' runtimes publish under the same name in parallel.
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (ReferenceEquals(instrument.Meter, h.Runtime.Metrics.Meter)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((i, v, _, _) => seen.AddOrUpdate(i.Name, v, (_, old) => old + v));
        listener.SetMeasurementEventCallback<int>((i, v, _, _) => seen[i.Name] = Math.Max(seen.GetValueOrDefault(i.Name), v));
        listener.SetMeasurementEventCallback<double>((i, v, _, _) => seen[i.Name] = Math.Max(seen.GetValueOrDefault(i.Name), v));
        listener.Start();

        var shared = Enumerable.Range(0, 40).Select(i => 3 + i).ToArray();
        var requests = Enumerable.Range(0, 6).Select(i => new Generate
        {
            RequestId = $"m{i}",
            PromptTokens = shared.Append(100 + i).ToArray(),
            MaxTokens = 200,
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
        }).ToList();
        var probes = requests.Select(_ => CreateTestProbe(h.System)).ToList();
        for (int i = 0; i < requests.Count; i++) h.Runtime.Router.Tell(requests[i], probes[i].Ref);
        AwaitAssert(() =>
        {
            listener.RecordObservableInstruments();
            Assert.True(seen.GetValueOrDefault("actors.scheduler.running") > 0);
            Assert.True(seen.GetValueOrDefault("actors.kv.blocks_used") > 0);
        }, TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(20));
        for (int i = 0; i < requests.Count; i++) RuntimeHarness.Collect(probes[i], requests[i].RequestId);
        listener.RecordObservableInstruments();

        foreach (var name in new[]
        {
            "actors.tokens.generated", "actors.tokens.prompt", "actors.scheduler.preemptions", "actors.requests.finished",
            "actors.step.duration", "actors.step.tokens", "actors.request.time_to_first_token", "actors.request.inter_token_latency",
            "actors.request.queue_time", "actors.scheduler.running", "actors.kv.blocks_used", "actors.kv.blocks_free",
            "actors.kv.prefix_hit_rate", "actors.scheduler.waiting",
        })
            Assert.True(seen.ContainsKey(name), $"instrument {name} reported nothing");
        Assert.Equal(1200, seen["actors.tokens.generated"]);
        Assert.True(seen["actors.scheduler.preemptions"] > 0, "24 blocks for six sequences of up to 241 tokens forces preemptions");
        Assert.True(seen["actors.kv.prefix_hit_rate"] > 0, "the shared 40-token prefix hits the cache");
    }

    [Fact]
    public void The_warm_up_requests_at_start_are_not_counted()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.warm-up = on"), name: "warm-metrics");
        Assert.Equal(0, h.Runtime.Metrics.GeneratedTotal);
        var outcome = h.Run(new Generate
        {
            RequestId = "counted",
            PromptTokens = [7, 8, 9],
            MaxTokens = 5,
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true },
        }, this);
        Assert.Equal(5, outcome.Tokens.Count);
        Assert.Equal(5, h.Runtime.Metrics.GeneratedTotal);
    }
}
