using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Actors.Server.Soak;

namespace Actors.Server.Tests;

/// <summary>Replica failures seen from HTTP: the request that met it gets an error naming it, /ready and new requests say there is no healthy replica.</summary>
public sealed class ReplicaFailureTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task After_the_only_replica_fails_ready_is_503_and_new_requests_get_503_with_retry_after()
    {
        await using var server = await ServerHarness.Start("actors-runtime { warm-up = off, fault-injection { enabled = on, kill-stage-rate = 1 } }");
        using var http = server.Http();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("ready")).StatusCode);

        var failed = await http.PostAsJsonAsync("v1/completions", new { prompt = "hi", max_tokens = 5 });
        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Contains("stage 0 stopped", await failed.Content.ReadAsStringAsync());

        var ready = await http.GetAsync("ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        using (var doc = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()))
        {
            Assert.Equal(0, doc.RootElement.GetProperty("healthy_replicas").GetInt32());
            Assert.Contains("no healthy replica", doc.RootElement.GetProperty("problems")[0].GetString());
        }
        var refused = await http.PostAsJsonAsync("v1/completions", new { prompt = "hi", max_tokens = 5 });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Contains("no healthy replica", await refused.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);
    }

    [Fact]
    public async Task A_short_soak_with_injected_device_faults_loses_no_request_and_leaks_nothing()
    {
        var options = new SoakOptions
        {
            Requests = 150,
            Concurrency = 8,
            DisconnectRate = 0.05,
            CancelRate = 0.05,
            SlowReaderRate = 0.05,
            BadRequestRate = 0.05,
            FaultRate = 0.3,
            MaxTokens = 16,
            Seed = 11,
            RequestTimeout = TimeSpan.FromSeconds(60),
        };
        // Two replicas: while one hangs past the watchdog (out of rotation for the hang) the other serves;
        // when both are out at once, requests get 503 (counted as rejected), never lost.
        await using var server = await ServerHarness.Start("""
            actors-runtime.scheduler { max-waiting = 16, max-running-sequences = 8 }
            actors-runtime.devices = [ { id = "cpu:0", kind = cpu, threads = 1 }, { id = "cpu:1", kind = cpu, threads = 1 } ]
            actors-runtime.layout.replicas = 2
            """ + "\n" + options.FaultInjectionHocon());
        var report = await SoakRunner.RunAsync(new Uri(server.Base, "v1/"), options, server.System);
        output.WriteLine(report.ToJson());
        Assert.True(report.Clean, report.ToJson());
        Assert.Equal(150, report.Completed + report.Rejected + report.BadRequestsRefused + report.ClientGone + report.FailedByInjectedFault + report.FailedWithError + report.Lost);
        Assert.True(report.FailedByInjectedFault > 0, report.ToJson());
        Assert.True(report.Completed > 0, report.ToJson());
    }
}
