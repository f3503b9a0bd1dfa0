using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Actors.Server.Tests;

/// <summary>API key on every endpoint but liveness, client priority only when allowed, liveness and readiness, overload.</summary>
public sealed class SecurityAndHealthTests
{
    private const string Key = "sk-test-4f1c";

    private static ChatClient Chat(ServerHarness server, string key) =>
        new("tiny", new ApiKeyCredential(key), new OpenAIClientOptions { Endpoint = new Uri(server.Base, "v1/") });

    [Fact]
    public async Task With_an_api_key_every_endpoint_but_liveness_requires_the_bearer_token()
    {
        await using var server = await ServerHarness.Start($"actors-server.api-key = \"{Key}\"");
        using var anonymous = server.Http();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("health")).StatusCode);
        foreach (var path in new[] { "ready", "v1/models" })
        {
            var response = await anonymous.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            Assert.Equal("invalid_api_key", doc.RootElement.GetProperty("error").GetProperty("code").GetString());
        }
        var post = await anonymous.PostAsJsonAsync("v1/completions", new { prompt = "hi", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        using var wrong = server.Http("sk-wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("v1/models")).StatusCode);

        var denied = await Assert.ThrowsAsync<ClientResultException>(() => Chat(server, "sk-wrong").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(401, denied.Status);
        var completion = await Chat(server, Key).CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 3 });
        Assert.True(completion.Value.Usage.OutputTokenCount > 0);
        using var authorized = server.Http(Key);
        Assert.Equal(HttpStatusCode.OK, (await authorized.GetAsync("ready")).StatusCode);
    }

    [Fact]
    public void The_command_line_key_beats_the_environment_which_beats_the_config()
    {
        var configured = ServerSettings.Default with { ApiKey = "from-config" };
        Assert.Equal("cli", configured.WithApiKey("cli", "env").ApiKey);
        Assert.Equal("env", configured.WithApiKey(null, "env").ApiKey);
        Assert.Equal("from-config", configured.WithApiKey("", "").ApiKey);
        Assert.Null(ServerSettings.Default.ApiKey);
        Assert.False(ServerSettings.Default.AllowClientPriority);
    }

    [Fact]
    public void Unknown_server_keys_are_an_error_naming_the_nearest_valid_one()
    {
        var ex = Assert.Throws<Actors.Runtime.Configuration.InvalidConfigurationException>(() =>
            ServerSettings.Create(Akka.Configuration.ConfigurationFactory.ParseString("actors-server.apikey = x")));
        Assert.Contains("actors-server.apikey is not a known key: did you mean actors-server.api-key?", ex.Message);
    }

    [Fact]
    public async Task A_client_priority_is_ignored_unless_the_config_allows_it()
    {
        await using var server = await ServerHarness.Start();
        var template = ChatPromptBuilder.ForRuntime(server.Runtime);
        var body = new CompletionRequest { Prompt = JsonDocument.Parse("\"hi\"").RootElement, Priority = -100 };
        RequestMapper.Context Context(bool allow) => new(ServerSettings.Default.Limits, 1000, allow, template);
        Assert.Equal(0, RequestMapper.ToGenerate(body, false, Context(false), "a").Priority);
        Assert.Equal(-100, RequestMapper.ToGenerate(body, false, Context(true), "b").Priority);
    }

    [Fact]
    public async Task Readiness_reports_the_runtime_and_drain_state_while_liveness_stays_ok()
    {
        var server = await ServerHarness.Start();
        using var http = server.Http();
        var ready = await http.GetAsync("ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        using (var doc = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()))
            Assert.Equal(1, doc.RootElement.GetProperty("replicas").GetInt32());

        var drained = server.Lifecycle.DrainAsync(TimeSpan.FromSeconds(5));
        Assert.True(await drained);
        var notReady = await http.GetAsync("ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, notReady.StatusCode);
        Assert.Contains("shutting down", await notReady.Content.ReadAsStringAsync());
        var refused = await http.PostAsJsonAsync("v1/completions", new { prompt = "hi", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.NotNull(refused.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("health")).StatusCode);

        await server.System.Terminate();
        var dead = await http.GetAsync("ready");
        Assert.Contains("terminated", await dead.Content.ReadAsStringAsync());
        await server.App.StopAsync();
    }

    [Fact]
    public async Task Draining_waits_for_in_flight_requests()
    {
        await using var server = await ServerHarness.Start();
        Assert.True(server.Lifecycle.TryEnter());
        var drain = server.Lifecycle.DrainAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(100);
        Assert.False(drain.IsCompleted);
        Assert.False(server.Lifecycle.TryEnter());
        server.Lifecycle.Exit();
        Assert.True(await drain);
        Assert.False(await new ServerLifecycle().TryEnterThenDrain(TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public async Task A_burst_of_twenty_times_the_queue_limit_gets_only_200_and_429_with_retry_after()
    {
        await using var server = await ServerHarness.Start("actors-runtime.scheduler { max-waiting = 2, max-running-sequences = 1 }");
        using var http = server.Http();
        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(i =>
            http.PostAsJsonAsync("v1/completions", new { prompt = new[] { 5, 6, 7 }, max_tokens = 16, ignore_eos = true, temperature = 0 })));
        Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.OK or HttpStatusCode.TooManyRequests, $"{(int)a.StatusCode}"));
        var limited = answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.Contains(answers, a => a.StatusCode == HttpStatusCode.OK);
        Assert.All(limited, a => Assert.Equal(TimeSpan.FromSeconds(1), a.Headers.RetryAfter?.Delta));
    }
}

internal static class LifecycleTestExtensions
{
    /// <summary>A request that never exits: the drain gives up at its limit and says so.</summary>
    public static Task<bool> TryEnterThenDrain(this ServerLifecycle lifecycle, TimeSpan limit)
    {
        lifecycle.TryEnter();
        return lifecycle.DrainAsync(limit);
    }
}

/// <summary>The server-side maximum request duration ends a long request with "length" and frees its blocks.</summary>
public sealed class RequestDurationTests
{
    [Fact]
    public async Task A_request_past_the_maximum_duration_ends_with_length_and_frees_its_blocks()
    {
        await using var server = await ServerHarness.Start("actors-server.max-request-duration = 300ms");
        using var http = server.Http();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var response = await http.PostAsJsonAsync("v1/completions", new { prompt = new[] { 5, 6, 7 }, max_tokens = 4000, ignore_eos = true, temperature = 0 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("length", doc.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32() < 4000);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed}");
        var gauges = server.Runtime.Metrics.Replica(0);
        for (int i = 0; i < 100 && gauges.BlocksUsed > 0; i++) await Task.Delay(20);
        Assert.Equal(0, gauges.BlocksUsed);
    }
}

/// <summary>Without a configured limit, a prompt longer than any prompt that fits the model length is refused before tokenizing.</summary>
public sealed class DefaultPromptLimitTests
{
    [Fact]
    public async Task The_default_prompt_limit_is_the_model_length_times_the_longest_piece()
    {
        await using var server = await ServerHarness.Start();
        int limit = OpenAiServer.MaxPromptChars(server.Runtime, ServerSettings.Default.Limits);
        var tokenizer = server.Runtime.Tokenizer;
        int longest = Enumerable.Range(0, tokenizer.VocabSize).Max(id => Math.Max(tokenizer.TokenText(id).Length, tokenizer.TokenBytes(id).Length));
        Assert.Equal(4096 * (longest + 1), limit);
        using var http = server.Http();
        var response = await http.PostAsJsonAsync("v1/completions", new { prompt = new string('a', limit + 1), max_tokens = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains($"{limit + 1} characters", await response.Content.ReadAsStringAsync());
    }
}
