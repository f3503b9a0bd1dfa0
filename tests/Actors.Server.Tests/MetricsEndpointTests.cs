using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;

namespace Actors.Server.Tests;

/// <summary>
/// Alone (not in parallel with the other classes): the exporter reads every meter named Actors.Runtime in
/// the process, so another test's runtime would add its figures to this one's.
/// </summary>
[CollectionDefinition(nameof(MetricsAlone), DisableParallelization = true)]
public sealed class MetricsAlone;

/// <summary>
/// /metrics scraped after real requests and parsed by a Prometheus text-format parser nobody here wrote
/// (npm parse-prometheus-text-format, installed from tests/Actors.Server.Tests/prometheus by .ci/run).
/// </summary>
[Collection(nameof(MetricsAlone))]
public sealed class MetricsEndpointTests
{
    private const string Key = "metrics-test-key";

    [Fact]
    public async Task Metrics_scrape_parses_as_Prometheus_text_with_vllm_like_names_and_the_figures_of_the_requests_served()
    {
        await using var server = await ServerHarness.Start($"actors-server.api-key = \"{Key}\"");
        using var http = server.Http(Key);
        int prompt = 0, completion = 0;
        for (int i = 0; i < 3; i++)
        {
            using var response = await http.PostAsJsonAsync("v1/completions", new { prompt = "metrics " + i, max_tokens = 5, ignore_eos = true, temperature = 0 });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var usage = body.RootElement.GetProperty("usage");
            prompt += usage.GetProperty("prompt_tokens").GetInt32();
            completion += usage.GetProperty("completion_tokens").GetInt32();
        }
        Assert.Equal(15, completion);

        using var scrape = await http.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Equal("text/plain", scrape.Content.Headers.ContentType?.MediaType);
        var families = Parse(await scrape.Content.ReadAsStringAsync());

        Assert.Equal(completion, Sum(families, "actors_generation_tokens_total", "COUNTER"));
        Assert.Equal(prompt, Sum(families, "actors_prompt_tokens_total", "COUNTER"));
        Assert.Equal(3, Sum(families, "actors_request_success_total", "COUNTER"));

        var ttft = Family(families, "actors_time_to_first_token_milliseconds", "HISTOGRAM");
        var series = Assert.Single(ttft.GetProperty("metrics").EnumerateArray());
        // The parser keeps the cumulative buckets; the +Inf bucket is the count.
        Assert.Equal("3", series.GetProperty("buckets").GetProperty("+Inf").GetString());
        Assert.True(series.GetProperty("buckets").TryGetProperty("1000", out _), "the TTFT histogram has vLLM's buckets (in ms)");
        var itl = Assert.Single(Family(families, "actors_inter_token_latency_milliseconds", "HISTOGRAM").GetProperty("metrics").EnumerateArray());
        Assert.Equal("12", itl.GetProperty("buckets").GetProperty("+Inf").GetString()); // 4 gaps between 5 tokens, per request

        foreach (var gauge in new[] { "actors_num_requests_running", "actors_num_requests_waiting" })
        {
            var m = Assert.Single(Family(families, gauge, "GAUGE").GetProperty("metrics").EnumerateArray());
            Assert.Equal("0", m.GetProperty("labels").GetProperty("replica").GetString());
            Assert.Equal(0, double.Parse(m.GetProperty("value").GetString()!)); // every request has finished
        }
        double usage01 = Sum(families, "actors_kv_cache_usage_perc", "GAUGE");
        Assert.InRange(usage01, 0, 1);
        Assert.True(Sum(families, "actors_prefix_cache_queries_total", "COUNTER") >= Sum(families, "actors_prefix_cache_hits_total", "COUNTER"));
        Family(families, "actors_num_preemptions_total", "COUNTER", optional: true);
    }

    [Fact]
    public async Task Metrics_counts_transfer_bytes_per_path_between_pipeline_stages()
    {
        await using var server = await ServerHarness.Start("""
            actors-runtime.devices = [ { id = "cpu:0", kind = cpu, threads = 1 }, { id = "cpu:1", kind = cpu, threads = 1 } ]
            actors-runtime.layout.pipeline = 2
            """);
        using var http = server.Http();
        using var response = await http.PostAsJsonAsync("v1/completions", new { prompt = "two stages", max_tokens = 3, ignore_eos = true });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var families = Parse(await (await http.GetAsync("metrics")).Content.ReadAsStringAsync());
        var bytes = Family(families, "actors_transfer_bytes_total", "COUNTER").GetProperty("metrics").EnumerateArray().ToList();
        Assert.NotEmpty(bytes);
        Assert.All(bytes, m => Assert.False(string.IsNullOrEmpty(m.GetProperty("labels").GetProperty("path").GetString())));
        Assert.True(bytes.Sum(m => double.Parse(m.GetProperty("value").GetString()!)) > 0);
        Assert.True(Sum(families, "actors_transfers_total", "COUNTER") >= 3, "one activation transfer per step at least");
    }

    [Fact]
    public async Task Otlp_endpoint_in_config_pushes_the_metrics_as_http_protobuf()
    {
        var received = new TaskCompletionSource<(string? ContentType, byte[] Body)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var collector = Microsoft.AspNetCore.Builder.WebApplication.CreateSlimBuilder();
        collector.WebHost.UseUrls("http://127.0.0.1:0");
        await using var app = collector.Build();
        app.MapPost("/v1/metrics", async (Microsoft.AspNetCore.Http.HttpContext ctx) =>
        {
            using var body = new MemoryStream();
            await ctx.Request.Body.CopyToAsync(body);
            // Pushes before the request has run carry no generated tokens yet; wait for one that does.
            if (body.ToArray().AsSpan().IndexOf("actors.generation_tokens"u8) >= 0) received.TrySetResult((ctx.Request.ContentType, body.ToArray()));
            return Microsoft.AspNetCore.Http.Results.Ok();
        });
        await app.StartAsync();
        string address = app.Urls.First();

        await using var server = await ServerHarness.Start($$"""actors-server.metrics { otlp-endpoint = "{{address}}/v1/metrics", otlp-interval = 200ms }""");
        using var http = server.Http();
        using var response = await http.PostAsJsonAsync("v1/completions", new { prompt = "otlp", max_tokens = 2, ignore_eos = true });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var (contentType, payload) = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal("application/x-protobuf", contentType);
        Assert.True(payload.AsSpan().IndexOf("actors.time_to_first_token"u8) >= 0, "the push carries the renamed TTFT histogram");
    }

    [Fact]
    public void Otlp_endpoint_that_is_not_an_http_url_is_refused_naming_the_key()
    {
        var ex = Assert.Throws<Actors.Runtime.Configuration.InvalidConfigurationException>(() =>
            ServerSettings.Create(Akka.Configuration.ConfigurationFactory.ParseString("""actors-server.metrics.otlp-endpoint = "collector:4318" """)));
        Assert.Contains("actors-server.metrics.otlp-endpoint", ex.Message);
    }

    [Fact]
    public async Task Metrics_obeys_the_api_key_like_every_other_endpoint()
    {
        await using var server = await ServerHarness.Start($"actors-server.api-key = \"{Key}\"");
        using var anonymous = server.Http();
        using var denied = await anonymous.GetAsync("metrics");
        Assert.Equal(HttpStatusCode.Unauthorized, denied.StatusCode);
        using var wrong = server.Http("not-the-key");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("metrics")).StatusCode);
        using var allowed = server.Http(Key);
        Assert.Equal(HttpStatusCode.OK, (await allowed.GetAsync("metrics")).StatusCode);
    }

    private static double Sum(JsonElement families, string name, string type) =>
        Family(families, name, type).GetProperty("metrics").EnumerateArray().Sum(m => double.Parse(m.GetProperty("value").GetString()!, System.Globalization.CultureInfo.InvariantCulture));

    private static JsonElement Family(JsonElement families, string name, string type, bool optional = false)
    {
        foreach (var f in families.EnumerateArray())
            if (f.GetProperty("name").GetString() == name)
            {
                Assert.Equal(type, f.GetProperty("type").GetString());
                return f;
            }
        if (optional) return default;
        Assert.Fail($"no metric family {name}; the scrape has: {string.Join(", ", families.EnumerateArray().Select(f => f.GetProperty("name").GetString()))}");
        return default;
    }

    /// <summary>The scrape through parse-prometheus-text-format (node); its families as JSON.</summary>
    private static JsonElement Parse(string text)
    {
        string dir = Path.Combine(RepositoryRoot(), "tests", "Actors.Server.Tests", "prometheus");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", "parse-prometheus-text-format")),
            $"the Prometheus parser is not installed: run `npm ci` in {dir} (.ci/run does)");
        var start = new ProcessStartInfo("node", "parse.js") { WorkingDirectory = dir, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var node = Process.Start(start)!;
        node.StandardInput.Write(text);
        node.StandardInput.Close();
        var output = node.StandardOutput.ReadToEndAsync();
        string errors = node.StandardError.ReadToEnd();
        Assert.True(node.WaitForExit(30_000), "node did not finish parsing");
        Assert.True(node.ExitCode == 0, $"the scrape is not valid Prometheus text: {errors}\n{text}");
        return JsonDocument.Parse(output.Result).RootElement.Clone();
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) return dir.FullName;
        throw new InvalidOperationException("Actors.sln not found above " + AppContext.BaseDirectory);
    }
}
