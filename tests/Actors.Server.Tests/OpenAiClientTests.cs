using System.ClientModel;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using OpenAI;
using OpenAI.Chat;
using Actors.Inference.Synthetic;
using Actors.Runtime;
using Actors.Server;

namespace Actors.Server.Tests;

/// <summary>The server with the official OpenAI .NET SDK as its client, on loopback.</summary>
public sealed class OpenAiClientTests : IAsyncLifetime
{
    private ActorSystem _system = null!;
    private WebApplication _app = null!;
    private Uri _base = null!;

    public async Task InitializeAsync()
    {
        string model = SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec { Dim = 64, Ffn = 128, Layers = 2, Vocab = 320, Context = 4096, Seed = 5 },
            Path.Combine(Path.GetTempPath(), "actors-server-test-models"));
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            actors-runtime {
              model.path = "{{model.Replace("\\", "/")}}"
              devices = [ { id = "cpu:0", kind = cpu, threads = 2 } ]
              kv-cache.num-blocks = 300
            }
            """);
        _system = ActorSystem.Create("server-test", config);
        _app = OpenAiServer.Build(LlmRuntime.Get(_system), "http://127.0.0.1:0", "tiny");
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _base = new Uri(address.TrimEnd('/') + "/v1/");
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _system.Terminate();
    }

    private ChatClient Chat() => new("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _base });

    [Fact]
    public async Task The_sdk_completes_a_chat()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 12, Temperature = 0 };
        ChatCompletion completion = await Chat().CompleteChatAsync([new SystemChatMessage("Be brief."), new UserChatMessage("Hello there")], options);
        Assert.Equal(ChatMessageRole.Assistant, completion.Role);
        Assert.True(completion.Usage.OutputTokenCount is > 0 and <= 12);
        Assert.True(completion.Usage.InputTokenCount > 3);
        Assert.Contains(completion.FinishReason, new[] { ChatFinishReason.Stop, ChatFinishReason.Length });
    }

    [Fact]
    public async Task The_sdk_streams_a_chat_and_the_stream_equals_the_whole_answer()
    {
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 16, Temperature = 0 };
        var messages = new OpenAI.Chat.ChatMessage[] { new UserChatMessage("Once upon a time") };
        string whole = (await Chat().CompleteChatAsync(messages, options)).Value.Content[0].Text;
        var streamed = new System.Text.StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync(messages, options))
        {
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            finish ??= update.FinishReason;
        }
        Assert.Equal(whole, streamed.ToString());
        Assert.NotNull(finish);
    }

    [Fact]
    public async Task Completions_take_token_prompts_and_report_usage()
    {
        using var http = new HttpClient { BaseAddress = _base };
        var response = await http.PostAsJsonAsync("completions", new { model = "tiny", prompt = new[] { 5, 6, 7, 8 }, max_tokens = 5, temperature = 0, ignore_eos = true });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("text_completion", doc.RootElement.GetProperty("object").GetString());
        Assert.Equal(5, doc.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal("length", doc.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Bad_requests_get_an_openai_style_error_naming_the_field()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { Temperature = -3 }));
        Assert.Equal(400, ex.Status);
        Assert.Contains("Temperature", ex.Message, StringComparison.OrdinalIgnoreCase);

        using var http = new HttpClient { BaseAddress = _base };
        var tooLong = await http.PostAsJsonAsync("completions", new { prompt = Enumerable.Repeat(5, 5000).ToArray(), max_tokens = 5 });
        Assert.Equal(HttpStatusCode.BadRequest, tooLong.StatusCode);
        using var doc = JsonDocument.Parse(await tooLong.Content.ReadAsStringAsync());
        Assert.Equal("prompt", doc.RootElement.GetProperty("error").GetProperty("param").GetString());
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_cancels_its_request_and_frees_its_blocks()
    {
        using (var http = new HttpClient { BaseAddress = _base })
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "completions")
            {
                Content = JsonContent.Create(new { prompt = new[] { 5, 6, 7 }, max_tokens = 4000, stream = true, ignore_eos = true, temperature = 0 }),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            int events = 0;
            while (events < 3 && await reader.ReadLineAsync() is { } line)
                if (line.StartsWith("data: {", StringComparison.Ordinal)) events++;
            Assert.Equal(3, events);
        } // the connection closes here, mid-generation
        var gauges = LlmRuntime.Get(_system).Metrics.Replica(0);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((gauges.BlocksUsed > 0 || gauges.Running > 0) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(0, gauges.BlocksUsed);
        Assert.True(LlmRuntime.Get(_system).Metrics.GeneratedTotal < 4000, "generation stopped when the client left");
    }

    [Fact]
    public async Task The_model_list_names_the_served_model()
    {
        var models = await new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = _base }).GetOpenAIModelClient().GetModelsAsync();
        Assert.Contains(models.Value, m => m.Id == "tiny");
    }

    /// <summary>
    /// The SDK's typed results read only choices[0], so its protocol methods send n and the raw body
    /// is read for every choice's index; the typed streaming call still works on the same request.
    /// </summary>
    [Fact]
    public async Task The_sdk_gets_n_choices_indexed_0_to_n_minus_1_streamed_and_not()
    {
        var body = new { model = "tiny", messages = new[] { new { role = "user", content = "Tell me something" } }, max_tokens = 6, n = 3, seed = 11, temperature = 1.0 };
        var whole = await Chat().CompleteChatAsync(System.ClientModel.BinaryContent.Create(BinaryData.FromObjectAsJson(body)));
        var json = JsonDocument.Parse(whole.GetRawResponse().Content.ToString()).RootElement;
        var choices = json.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.All(choices, c => Assert.False(string.IsNullOrEmpty(c.GetProperty("message").GetProperty("content").GetString())));

        var streamed = await Chat().CompleteChatAsync(System.ClientModel.BinaryContent.Create(BinaryData.FromObjectAsJson(new
        {
            body.model, body.messages, body.max_tokens, body.n, body.seed, body.temperature, stream = true,
        })), new System.ClientModel.Primitives.RequestOptions { BufferResponse = true });
        var texts = new System.Text.StringBuilder[] { new(), new(), new() };
        foreach (var line in streamed.GetRawResponse().Content.ToString().Split('\n'))
        {
            if (!line.StartsWith("data: {", StringComparison.Ordinal)) continue;
            foreach (var c in JsonDocument.Parse(line[6..]).RootElement.GetProperty("choices").EnumerateArray())
                if (c.GetProperty("delta").TryGetProperty("content", out var t) && t.ValueKind == JsonValueKind.String)
                    texts[c.GetProperty("index").GetInt32()].Append(t.GetString());
        }
        // The same seed gives the same choices streamed or not.
        Assert.Equal(choices.Select(c => c.GetProperty("message").GetProperty("content").GetString()), texts.Select(b => b.ToString()));
    }
}
