using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Akka.Actor;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;
using Akka.Event;
using Actors.Runtime;
using Actors.Runtime.Hosting;

namespace Actors.Server.Tests;

/// <summary>
/// The server mounted on an application's own WebApplication: the runtime from configuration through
/// services.AddLlmRuntime (IOptions, validated at start), the endpoints through app.MapOpenAiEndpoints().
/// </summary>
public sealed class HostedServerTests
{
    private static WebApplicationBuilder Builder(Dictionary<string, string?> actors)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var settings = new Dictionary<string, string?>
        {
            ["Actors:ModelPath"] = ServerHarness.ModelPath(),
            ["Actors:CpuDevices"] = "1",
            ["Actors:ThreadsPerDevice"] = "1",
            ["Actors:KvBlocks"] = "100",
        };
        foreach (var (k, v) in actors) settings["Actors:" + k] = v;
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddLlmRuntime(builder.Configuration.GetSection("Actors"));
        return builder;
    }

    [Fact]
    public async Task MapOpenAiEndpoints_serves_the_runtime_from_configuration_beside_the_host_apps_own_endpoints()
    {
        var builder = Builder(new() { ["MaxBatchedTokens"] = "256" });
        builder.Services.AddOpenAiEndpoints(ServerSettings.Default with { ApiKey = "host-key" });
        await using var app = builder.Build();
        app.MapGet("/hello", () => "from the host app");
        app.MapOpenAiEndpoints(modelName: "hosted");
        await app.StartAsync();
        try
        {
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(60) };

            Assert.Equal("from the host app", await http.GetStringAsync("hello")); // the API key guards our paths only
            Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("v1/models")).StatusCode);

            http.DefaultRequestHeaders.Authorization = new("Bearer", "host-key");
            using var models = JsonDocument.Parse(await http.GetStringAsync("v1/models"));
            Assert.Equal("hosted", models.RootElement.GetProperty("data")[0].GetProperty("id").GetString());
            using var response = await http.PostAsJsonAsync("v1/completions", new { prompt = "hosted", max_tokens = 3, ignore_eos = true });
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(3, body.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("metrics")).StatusCode);

            // The options came from configuration and reached the runtime.
            var runtime = app.Services.GetRequiredService<LlmRuntime>();
            Assert.Equal(256, runtime.Settings.Scheduler.MaxBatchedTokens);
            Assert.Equal(256, app.Services.GetRequiredService<IOptions<LlmRuntimeOptions>>().Value.MaxBatchedTokens);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    /// <summary>Every log line the host's logging receives, with its category.</summary>
    private sealed class CapturingProvider : ILoggerProvider
    {
        public readonly System.Collections.Concurrent.ConcurrentQueue<(string Category, LogLevel Level, string Message)> Lines = new();
        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
        public void Dispose() { }

        private sealed class Logger(CapturingProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Lines.Enqueue((category, logLevel, formatter(state, exception)));
        }
    }

    [Fact]
    public async Task Akka_logs_and_one_line_per_request_reach_the_hosts_logging_with_the_request_id()
    {
        var builder = Builder(new());
        var captured = new CapturingProvider();
        builder.Logging.AddProvider(captured);
        builder.Services.AddOpenAiEndpoints();
        await using var app = builder.Build();
        app.MapOpenAiEndpoints(modelName: "hosted");
        await app.StartAsync();
        try
        {
            // Akka's own log (any actor's, the runtime's included) goes through ILoggerFactory.
            app.Services.GetRequiredService<ActorSystem>().Log.Warning("bridged from akka {0}", 42);
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            using var http = new HttpClient { BaseAddress = new Uri(address.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(60) };
            using var response = await http.PostAsJsonAsync("v1/completions", new { prompt = "log me", max_tokens = 3, ignore_eos = true });
            string id = response.Headers.GetValues(RequestLog.Header).Single();
            using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal(body.RootElement.GetProperty("id").GetString(), id);
            int prompt = body.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32();

            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            while (DateTime.UtcNow < deadline && !captured.Lines.Any(l => l.Message.Contains("bridged from akka 42"))) await Task.Delay(50);
            Assert.Contains(captured.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("bridged from akka 42"));
            var line = Assert.Single(captured.Lines, l => l.Category == RequestLog.Category && l.Message.Contains(id));
            Assert.Contains($"/v1/completions Length: prompt {prompt} tokens (0 cached), completion 3 tokens, TTFT ", line.Message);
            Assert.Contains(" ms, total ", line.Message);
        }
        finally
        {
            await app.StopAsync();
        }
    }

    [Fact]
    public async Task AddLlmRuntime_validates_the_options_at_start_naming_the_configuration_key()
    {
        var builder = Builder(new() { ["MaxBatchedTokens"] = "0", ["ModelPath"] = "/no/such/model.gguf" });
        await using var app = builder.Build();
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
        Assert.Contains("Actors:MaxBatchedTokens is 0; it must be at least 1", ex.Message);
        Assert.Contains("Actors:ModelPath: no file at \"/no/such/model.gguf\"", ex.Message);
    }
}
