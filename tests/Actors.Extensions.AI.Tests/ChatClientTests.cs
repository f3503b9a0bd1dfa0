using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Actors.Inference.Synthetic;
using Actors.Runtime;
using Actors.Runtime.Hosting;
using Actors.Runtime.Protocol;

namespace Actors.Extensions.AI.Tests;

/// <summary>A runtime on a small generated model, shared by the tests of a class.</summary>
public sealed class SmallRuntime : IAsyncLifetime
{
    public ActorSystem System { get; private set; } = null!;
    public LlmRuntime Runtime => LlmRuntime.Get(System);

    public static string ModelPath() =>
        SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec { Dim = 64, Ffn = 128, Layers = 2, Vocab = 320, Context = 4096, Seed = 5 },
            Path.Combine(Path.GetTempPath(), "actors-meai-test-models"));

    public static string Hocon => $$"""
        akka.loglevel = WARNING
        actors-runtime {
          model.path = "{{ModelPath().Replace("\\", "/")}}"
          devices = [ { id = "cpu:0", kind = cpu, threads = 1 } ]
          kv-cache.num-blocks = 200
        }
        """;

    public Task InitializeAsync()
    {
        System = ActorSystem.Create("meai-test", ConfigurationFactory.ParseString(Hocon));
        _ = Runtime;
        return Task.CompletedTask;
    }

    public Task DisposeAsync() => System.Terminate();
}

/// <summary>
/// IChatClient over the runtime, in the shape of Microsoft.Extensions.AI's own chat-client integration
/// tests (single message, multiple messages, streaming, usage, options, metadata, GetService), checked
/// against the runtime driven directly with the prompt the template renders.
/// </summary>
public sealed class ChatClientTests(SmallRuntime fixture) : IClassFixture<SmallRuntime>
{
    private readonly IChatClient _client = fixture.Runtime.AsChatClient("tiny");

    private static ChatOptions Greedy(int max) => new() { Temperature = 0, MaxOutputTokens = max };

    /// <summary>The runtime driven directly with the tokens the model's chat template renders for these turns.</summary>
    private async Task<GenerationResult> Direct((string Role, string Text)[] turns, int max, SamplingOptions? sampling = null)
    {
        var runtime = fixture.Runtime;
        var template = runtime.ChatTemplate();
        var messages = new System.Text.Json.Nodes.JsonArray(turns.Select(t => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject { ["role"] = t.Role, ["content"] = t.Text }).ToArray());
        return await runtime.GenerateAsync(new Generate
        {
            RequestId = Guid.NewGuid().ToString("N"), PromptTokens = template.Tokenize(runtime.Tokenizer, messages), MaxTokens = max,
            Sampling = sampling ?? SamplingOptions.Greedy,
        });
    }

    [Fact]
    public async Task GetResponseAsync_SingleRequestMessage_returns_the_text_the_runtime_generates_for_the_rendered_prompt()
    {
        var response = await _client.GetResponseAsync("Hello there", Greedy(12));
        var expected = await Direct([("user", "Hello there")], 12);

        Assert.Equal(expected.Text, response.Text);
        var message = Assert.Single(response.Messages);
        Assert.Equal(ChatRole.Assistant, message.Role);
        Assert.False(string.IsNullOrEmpty(response.ResponseId));
        Assert.Equal("tiny", response.ModelId);
        Assert.NotNull(response.CreatedAt);
    }

    [Fact]
    public async Task GetResponseAsync_MultipleRequestMessages_renders_every_role_in_order()
    {
        List<ChatMessage> history =
        [
            new(ChatRole.System, "Be brief."),
            new(ChatRole.User, "Hi"),
            new(ChatRole.Assistant, "Hello"),
            new(ChatRole.User, "Again"),
        ];
        var response = await _client.GetResponseAsync(history, Greedy(10));
        var expected = await Direct([("system", "Be brief."), ("user", "Hi"), ("assistant", "Hello"), ("user", "Again")], 10);
        Assert.Equal(expected.Text, response.Text);
    }

    [Fact]
    public async Task GetResponseAsync_UsageDataAvailable_and_finish_reason_length_at_max_output_tokens()
    {
        var options = Greedy(7);
        var expected = await Direct([("user", "Count")], 7);
        var response = await _client.GetResponseAsync("Count", options);

        Assert.NotNull(response.Usage);
        Assert.Equal(expected.Completed.Usage.PromptTokens, response.Usage.InputTokenCount);
        Assert.Equal(expected.Completed.Usage.CompletionTokens, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal(expected.Completed.Reason == FinishReason.Length ? ChatFinishReason.Length : ChatFinishReason.Stop, response.FinishReason);
        if (response.FinishReason == ChatFinishReason.Length) Assert.Equal(7, response.Usage.OutputTokenCount);
    }

    [Fact]
    public async Task GetStreamingResponseAsync_joins_to_the_non_streaming_text_and_ends_with_usage_and_finish_reason()
    {
        var whole = await _client.GetResponseAsync("Stream me", Greedy(16));
        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in _client.GetStreamingResponseAsync("Stream me", Greedy(16))) updates.Add(update);

        Assert.True(updates.Count >= 2, $"expected text updates and a final one, got {updates.Count}");
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.All(updates, u => Assert.Equal(ChatRole.Assistant, u.Role));
        Assert.Single(updates.Select(u => u.ResponseId).Distinct());
        Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
        var usage = Assert.IsType<UsageContent>(Assert.Single(updates[^1].Contents));
        Assert.Equal(whole.Usage!.OutputTokenCount, usage.Details.OutputTokenCount);
        Assert.Equal(whole.Usage.InputTokenCount, usage.Details.InputTokenCount);

        // The abstractions' own aggregation gives the same response.
        var joined = updates.ToChatResponse();
        Assert.Equal(whole.Text, joined.Text);
        Assert.Equal(whole.Usage.OutputTokenCount, joined.Usage!.OutputTokenCount);
    }

    [Fact]
    public async Task Options_map_to_the_request_stop_sequences_end_the_text_before_the_stop()
    {
        var free = await _client.GetResponseAsync("Stop test", Greedy(24));
        Assert.True(free.Text.Length >= 4, $"the model produced too little text to pick a stop from: \"{free.Text}\"");
        string stop = free.Text.Substring(free.Text.Length / 2, 2);
        int at = free.Text.IndexOf(stop, StringComparison.Ordinal);

        var options = Greedy(24);
        options.StopSequences = [stop];
        var stopped = await _client.GetResponseAsync("Stop test", options);

        Assert.Equal(free.Text[..at], stopped.Text);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
    }

    [Fact]
    public async Task Options_map_to_the_request_same_seed_same_sampled_text_and_sampling_matches_the_runtime()
    {
        var options = new ChatOptions { Temperature = 1.0f, TopK = 40, TopP = 0.9f, Seed = 1234, MaxOutputTokens = 12 };
        var a = await _client.GetResponseAsync("Seeded", options);
        var b = await _client.GetResponseAsync("Seeded", options);
        var direct = await Direct([("user", "Seeded")], 12, new SamplingOptions { Temperature = 1.0f, TopK = 40, TopP = 0.9f, Seed = 1234 });

        Assert.Equal(a.Text, b.Text);
        Assert.Equal(direct.Text, a.Text);
    }

    [Fact]
    public async Task ResponseFormat_json_is_refused_with_a_NotSupportedException_naming_it()
    {
        var options = new ChatOptions { ResponseFormat = ChatResponseFormat.Json };
        var ex = await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync("json please", options));
        Assert.Contains("ResponseFormat Json", ex.Message);
        await Assert.ThrowsAsync<NotSupportedException>(async () =>
        {
            await foreach (var _ in _client.GetStreamingResponseAsync("json please", options)) { }
        });
    }

    [Fact]
    public async Task Tools_and_image_content_are_refused_naming_them()
    {
        var tools = new ChatOptions { Tools = [AIFunctionFactory.Create(() => 42, "answer")] };
        Assert.Contains("Tools", (await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync("hi", tools))).Message);

        var image = new ChatMessage(ChatRole.User, [new TextContent("look"), new DataContent(new byte[] { 1, 2, 3 }, "image/png")]);
        var ex = await Assert.ThrowsAsync<NotSupportedException>(() => _client.GetResponseAsync([image]));
        Assert.Contains("messages[0] has DataContent", ex.Message);
    }

    [Fact]
    public async Task Cancelling_the_token_cancels_the_request()
    {
        using var cancel = new CancellationTokenSource();
        var options = new ChatOptions { Temperature = 0, MaxOutputTokens = 2000 };
        int seen = 0;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in _client.GetStreamingResponseAsync("long", options, cancel.Token))
                if (++seen == 2) cancel.Cancel();
        });
    }

    [Fact]
    public void GetService_returns_metadata_the_client_and_the_runtime()
    {
        var metadata = _client.GetService<ChatClientMetadata>();
        Assert.NotNull(metadata);
        Assert.Equal("actors", metadata.ProviderName);
        Assert.Equal("tiny", metadata.DefaultModelId);
        Assert.Same(_client, _client.GetService<IChatClient>());
        Assert.Same(fixture.Runtime, _client.GetService<LlmRuntime>());
        Assert.Null(_client.GetService<ChatClientMetadata>("some key"));
    }
}

/// <summary>The hosting path: Akka.Hosting starts the runtime, the DI container hands out the IChatClient.</summary>
public sealed class ChatClientHostingTests
{
    [Fact]
    public async Task AddLlmChatClient_registers_an_IChatClient_over_the_hosted_runtime()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAkka("meai-hosted", b => b
            .AddHocon(SmallRuntime.Hocon, HoconAddMode.Prepend)
            .WithLlmRuntime());
        builder.Services.AddLlmChatClient("hosted");
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var client = host.Services.GetRequiredService<IChatClient>();
            var response = await client.GetResponseAsync("Hi", new ChatOptions { Temperature = 0, MaxOutputTokens = 4 });
            Assert.Equal("hosted", response.ModelId);
            Assert.InRange(response.Usage!.OutputTokenCount!.Value, 1, 4);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
