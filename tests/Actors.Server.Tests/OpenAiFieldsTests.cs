using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Actors.Runtime.Protocol;

namespace Actors.Server.Tests;

/// <summary>A server whose model also answers to an alias.</summary>
public sealed class AliasedServer : IAsyncLifetime
{
    public ServerHarness Server { get; private set; } = null!;
    public async Task InitializeAsync() => Server = await ServerHarness.Start("actors-server.model-aliases = [\"gpt-4o-mini\"]");
    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// OpenAI's logprobs, stream usage, cached tokens and model fields through the official .NET SDK (raw HTTP
/// where the SDK has no completions client), checked against the runtime driven directly.
/// </summary>
public sealed class OpenAiFieldsTests(AliasedServer shared) : IClassFixture<AliasedServer>
{
    private readonly ServerHarness _server = shared.Server;

    private ChatClient Chat(string model = "tiny") =>
        new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Base, "v1/") });

    private async Task<(HttpStatusCode Status, string Text)> Post(string path, object body)
    {
        using var http = _server.Http();
        var response = await http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>The runtime's own answer for the prompt: chosen ids, their log-probabilities and the alternatives.</summary>
    private async Task<(List<int> Ids, List<float> LogProbs, List<TokenLogProb[]> Top)> Direct(int[] prompt, int maxTokens, int top)
    {
        var request = new Generate
        {
            RequestId = "direct-" + Guid.NewGuid().ToString("N"),
            PromptTokens = prompt,
            MaxTokens = maxTokens,
            AddBos = true,
            Sampling = new SamplingOptions { Temperature = 0, IgnoreEos = true, LogProbs = true, TopLogProbs = top },
        };
        var (ids, lps, tops) = (new List<int>(), new List<float>(), new List<TokenLogProb[]>());
        await foreach (var chunk in _server.Runtime.StreamAsync(request))
        {
            ids.AddRange(chunk.TokenIds);
            lps.AddRange(chunk.LogProbs!);
            if (chunk.TopLogProbs is { } t) tops.AddRange(t);
        }
        return (ids, lps, tops);
    }

    private string TokenString(int id) => Encoding.UTF8.GetString(_server.Runtime.Tokenizer.TokenBytes(id));

    private static byte[] Bytes(ReadOnlyMemory<byte>? bytes) => bytes?.ToArray() ?? [];
    private static byte[] Bytes(BinaryData? bytes) => bytes?.ToArray() ?? [];

    private static int[] RandomPrompt(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(3, 300)).ToArray();
    }

    private static void AssertAlternativesAreADistribution(float chosen, IReadOnlyList<float> alternatives, int asked)
    {
        Assert.Equal(asked, alternatives.Count);
        for (int i = 1; i < alternatives.Count; i++) Assert.True(alternatives[0] >= alternatives[i], "the most likely alternative comes first");
        Assert.True(alternatives.Sum(a => Math.Exp(a)) <= 1 + 1e-4, "alternatives' probabilities sum to at most 1");
        Assert.Equal(alternatives[0], chosen, 1e-5); // greedy picks the most likely
    }

    [Fact]
    public async Task Completion_logprobs_equal_the_runtimes_with_tokens_alternatives_and_text_offsets()
    {
        int[] prompt = RandomPrompt(1, 12);
        var direct = await Direct(prompt, 6, 5);
        var (status, text) = await Post("v1/completions", new { model = "tiny", prompt, max_tokens = 6, temperature = 0, ignore_eos = true, logprobs = 5 });
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = JsonDocument.Parse(text).RootElement.GetProperty("choices")[0];
        var lp = choice.GetProperty("logprobs");
        var tokens = lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()).ToList();
        var tokenLogProbs = lp.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetSingle()).ToList();
        var tops = lp.GetProperty("top_logprobs").EnumerateArray().ToList();
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()).ToList();
        Assert.Equal(direct.Ids.Select(TokenString), tokens);
        Assert.Equal(6, tokenLogProbs.Count);
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(direct.LogProbs[i], tokenLogProbs[i], 1e-5);
            var alternatives = tops[i].EnumerateObject().Select(p => p.Value.GetSingle()).ToList();
            var expected = direct.Top[i].Select(a => TokenString(a.TokenId)).Distinct().Count();
            AssertAlternativesAreADistribution(tokenLogProbs[i], alternatives, expected);
        }
        Assert.Equal(0, offsets[0]);
        string completion = choice.GetProperty("text").GetString()!;
        for (int i = 1; i < offsets.Count; i++) Assert.True(offsets[i] >= offsets[i - 1] && offsets[i] <= completion.Length);
    }

    [Fact]
    public async Task Streamed_completion_logprobs_equal_the_whole_answers()
    {
        int[] prompt = RandomPrompt(2, 10);
        var body = new { model = "tiny", prompt, max_tokens = 5, temperature = 0, ignore_eos = true, logprobs = 2 };
        var (_, whole) = await Post("v1/completions", body);
        var expected = JsonDocument.Parse(whole).RootElement.GetProperty("choices")[0].GetProperty("logprobs");
        var (status, sse) = await Post("v1/completions", new { body.model, body.prompt, body.max_tokens, body.temperature, body.ignore_eos, body.logprobs, stream = true });
        Assert.Equal(HttpStatusCode.OK, status);
        var (tokens, logProbs, offsets) = (new List<string>(), new List<float>(), new List<int>());
        foreach (var chunk in Events(sse))
        {
            var lp = chunk.GetProperty("choices")[0].GetProperty("logprobs");
            if (lp.ValueKind == JsonValueKind.Null) continue;
            tokens.AddRange(lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!));
            logProbs.AddRange(lp.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetSingle()));
            offsets.AddRange(lp.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()));
        }
        Assert.Equal(expected.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!), tokens);
        Assert.Equal(expected.GetProperty("token_logprobs").EnumerateArray().Select(t => t.GetSingle()), logProbs);
        Assert.Equal(expected.GetProperty("text_offset").EnumerateArray().Select(t => t.GetInt32()), offsets);
    }

    private static List<JsonElement> Events(string sse) =>
        sse.Split('\n').Where(l => l.StartsWith("data: {", StringComparison.Ordinal))
            .Select(l => JsonDocument.Parse(l[6..]).RootElement.Clone()).ToList();

    [Fact]
    public async Task Chat_logprobs_through_the_sdk_equal_the_runtimes_streamed_or_not()
    {
        var messages = new OpenAI.Chat.ChatMessage[] { new UserChatMessage("Tell me a story") };
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 6, IncludeLogProbabilities = true, TopLogProbabilityCount = 3 };
        ChatCompletion whole = await Chat().CompleteChatAsync(messages, options);
        var content = whole.ContentTokenLogProbabilities;
        Assert.NotEmpty(content);

        var prompt = ChatPromptBuilder.ForRuntime(_server.Runtime).Build(new CompletionRequest
        {
            Messages = [new Actors.Server.ChatMessage { Role = "user", Content = JsonSerializer.SerializeToElement("Tell me a story") }],
        });
        var direct = await Direct(prompt, content.Count, 3);
        for (int i = 0; i < content.Count; i++)
        {
            var bytes = _server.Runtime.Tokenizer.TokenBytes(direct.Ids[i]).ToArray();
            Assert.Equal(bytes, Bytes(content[i].Utf8Bytes));
            Assert.Equal(Encoding.UTF8.GetString(bytes), content[i].Token);
            Assert.Equal(direct.LogProbs[i], content[i].LogProbability, 1e-5);
            var alternatives = content[i].TopLogProbabilities;
            Assert.Equal(direct.Top[i].Select(a => _server.Runtime.Tokenizer.TokenBytes(a.TokenId).ToArray()), alternatives.Select(a => Bytes(a.Utf8Bytes)));
            AssertAlternativesAreADistribution(content[i].LogProbability, alternatives.Select(a => a.LogProbability).ToList(), 3);
        }

        var streamed = new List<ChatTokenLogProbabilityDetails>();
        await foreach (var update in Chat().CompleteChatStreamingAsync(messages, options))
            streamed.AddRange(update.ContentTokenLogProbabilities);
        Assert.Equal(content.Select(c => (c.Token, c.LogProbability)), streamed.Select(c => (c.Token, c.LogProbability)));
    }

    [Fact]
    public async Task Logprobs_are_null_unless_asked()
    {
        var (_, text) = await Post("v1/completions", new { prompt = new[] { 5, 6 }, max_tokens = 2 });
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(text).RootElement.GetProperty("choices")[0].GetProperty("logprobs").ValueKind);
        ChatCompletion chat = await Chat().CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        Assert.Empty(chat.ContentTokenLogProbabilities);
    }

    [Theory]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true,\"top_logprobs\":21}", "top_logprobs")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true,\"top_logprobs\":-1}", "top_logprobs")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_logprobs\":3}", "top_logprobs")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":3}", "logprobs")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"logprobs\":21}", "logprobs")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"logprobs\":true}", "logprobs")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"top_logprobs\":2}", "top_logprobs")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"stream_options\":{\"include_usage\":true}}", "stream_options")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"stream\":true,\"stream_options\":{\"include_usage\":1}}", "stream_options.include_usage")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"tools\":[]}", "tools")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"n\":17}", "n")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"logit_bias\":{\"5\":100.5}}", "logit_bias")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_schema\"}}", "response_format")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":\"required\"}", "tool_choice")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"echo\":true}", "echo")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"best_of\":3}", "best_of")]
    [InlineData("v1/completions", "{\"prompt\":\"hi\",\"suffix\":\"end\"}", "suffix")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"functions\":[]}", "functions")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"modalities\":[\"text\",\"audio\"]}", "modalities")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"audio\":{\"voice\":\"alloy\"}}", "audio")]
    [InlineData("v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"prediction\":{\"type\":\"content\"}}", "prediction")]
    public async Task Out_of_range_or_unsupported_fields_are_a_400_naming_them(string path, string json, string param)
    {
        using var http = _server.Http();
        var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
#pragma warning disable OPENAI001 // the SDK marks audio input parts as evaluation-only
    public async Task The_sdk_gets_a_400_for_json_output_a_forced_tool_and_image_or_audio_parts()
    {
        var tool = ChatTool.CreateFunctionTool("get_weather", "Weather", BinaryData.FromString("{\"type\":\"object\",\"properties\":{}}"));
        var forced = new ChatCompletionOptions { Tools = { tool }, ToolChoice = ChatToolChoice.CreateRequiredChoice() };
        var cases = new (OpenAI.Chat.ChatMessage Message, ChatCompletionOptions Options, string Param)[]
        {
            (new UserChatMessage("hi"), new ChatCompletionOptions { ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat() }, "response_format"),
            (new UserChatMessage("hi"), forced, "tool_choice"),
            (new UserChatMessage(ChatMessageContentPart.CreateImagePart(new Uri("https://example.invalid/cat.png"))), new ChatCompletionOptions(), "messages[0].content[0].type"),
            (new UserChatMessage(ChatMessageContentPart.CreateInputAudioPart(BinaryData.FromBytes([1, 2, 3]), ChatInputAudioFormat.Wav)), new ChatCompletionOptions(), "messages[0].content[0].type"),
        };
        foreach (var (message, options, param) in cases)
        {
            var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync([message], options));
            Assert.Equal(400, ex.Status);
            var error = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error");
            Assert.Equal(param, error.GetProperty("param").GetString());
        }
        // Text output and tools the model may call (tool_choice auto) are served: the template receives the tools.
        var allowed = new ChatCompletionOptions { MaxOutputTokenCount = 2, EndUserId = "someone", StoredOutputEnabled = false, ResponseFormat = ChatResponseFormat.CreateTextFormat(), Tools = { tool }, ToolChoice = ChatToolChoice.CreateAutoChoice() };
        ChatCompletion ok = await Chat().CompleteChatAsync([new UserChatMessage("hi")], allowed);
        Assert.True(ok.Usage.OutputTokenCount > 0);
    }
#pragma warning restore OPENAI001

    [Fact]
    public async Task Include_usage_ends_the_stream_with_a_chunk_of_empty_choices_and_the_usage()
    {
        var (status, sse) = await Post("v1/completions", new { prompt = RandomPrompt(3, 8), max_tokens = 4, ignore_eos = true, stream = true, stream_options = new { include_usage = true } });
        Assert.Equal(HttpStatusCode.OK, status);
        var events = Events(sse);
        var last = events[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        var usage = last.GetProperty("usage");
        Assert.Equal(4, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + 4, usage.GetProperty("total_tokens").GetInt32());
        Assert.All(events[..^1], e => Assert.Equal(JsonValueKind.Null, e.GetProperty("usage").ValueKind));
        Assert.EndsWith("data: [DONE]\n\n", sse);

        var (_, plain) = await Post("v1/completions", new { prompt = RandomPrompt(3, 8), max_tokens = 2, stream = true });
        Assert.All(Events(plain), e => Assert.False(e.TryGetProperty("usage", out _)));
    }

    [Fact]
    public async Task The_sdks_streamed_chat_gets_usage_and_a_repeated_prompt_reports_cached_tokens()
    {
        // Long enough to fill whole KV blocks (16 tokens), unique so nothing earlier cached it.
        var messages = new OpenAI.Chat.ChatMessage[] { new UserChatMessage("The quick brown fox jumps over the lazy dog " + Guid.NewGuid().ToString("N") + " and then it ran far away into the woods") };
        var options = new ChatCompletionOptions { MaxOutputTokenCount = 3, Temperature = 0 };
        ChatTokenUsage? first = null;
        await foreach (var update in Chat().CompleteChatStreamingAsync(messages, options))
            first = update.Usage ?? first;
        Assert.NotNull(first);
        Assert.Equal(0, first.InputTokenDetails.CachedTokenCount);
        Assert.True(first.OutputTokenCount is > 0 and <= 3);

        ChatCompletion second = await Chat().CompleteChatAsync(messages, options);
        Assert.Equal(first.InputTokenCount, second.Usage.InputTokenCount);
        Assert.True(second.Usage.InputTokenDetails.CachedTokenCount >= 16, $"cached {second.Usage.InputTokenDetails.CachedTokenCount} of {second.Usage.InputTokenCount}");

        int[] prompt = RandomPrompt(4, 40);
        var (_, a) = await Post("v1/completions", new { prompt, max_tokens = 1 });
        var (_, b) = await Post("v1/completions", new { prompt, max_tokens = 1 });
        int Cached(string json) => JsonDocument.Parse(json).RootElement.GetProperty("usage").GetProperty("prompt_tokens_details").GetProperty("cached_tokens").GetInt32();
        Assert.Equal(0, Cached(a));
        Assert.True(Cached(b) >= 32);
    }

    [Fact]
    public async Task An_unknown_model_is_404_model_not_found_and_an_alias_is_served_under_its_name()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat("no-such-model").CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, ex.Status);
        var error = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal("model", error.GetProperty("param").GetString());
        Assert.Contains("no-such-model", error.GetProperty("message").GetString());

        ChatCompletion aliased = await Chat("gpt-4o-mini").CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { MaxOutputTokenCount = 2 });
        Assert.Equal("gpt-4o-mini", aliased.Model);
        var models = await new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Base, "v1/") }).GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal(["tiny", "gpt-4o-mini"], models.Value.Select(m => m.Id));
    }

    [Fact]
    public async Task N_choices_are_each_the_request_with_the_seed_advanced_by_the_index_and_usage_counts_the_prompt_once()
    {
        int[] prompt = RandomPrompt(5, 20);
        var (status, text) = await Post("v1/completions", new { prompt, max_tokens = 5, temperature = 1.0, seed = 7, ignore_eos = true, n = 3, logprobs = 1 });
        Assert.Equal(HttpStatusCode.OK, status);
        var root = JsonDocument.Parse(text).RootElement;
        var choices = root.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        for (int i = 0; i < 3; i++)
        {
            var (_, single) = await Post("v1/completions", new { prompt, max_tokens = 5, temperature = 1.0, seed = 7 + i, ignore_eos = true });
            Assert.Equal(JsonDocument.Parse(single).RootElement.GetProperty("choices")[0].GetProperty("text").GetString(), choices[i].GetProperty("text").GetString());
            Assert.Equal(5, choices[i].GetProperty("logprobs").GetProperty("tokens").GetArrayLength());
        }
        var usage = root.GetProperty("usage");
        Assert.Equal(15, usage.GetProperty("completion_tokens").GetInt32());
        Assert.True(usage.GetProperty("prompt_tokens").GetInt32() is >= 20 and <= 21);

        var (streamStatus, sse) = await Post("v1/completions", new { prompt, max_tokens = 5, temperature = 1.0, seed = 7, ignore_eos = true, n = 3, stream = true, stream_options = new { include_usage = true } });
        Assert.Equal(HttpStatusCode.OK, streamStatus);
        var events = Events(sse);
        var streamed = new StringBuilder[] { new(), new(), new() };
        var finished = new string?[3];
        foreach (var e in events[..^1])
        {
            var c = e.GetProperty("choices")[0];
            int index = c.GetProperty("index").GetInt32();
            streamed[index].Append(c.GetProperty("text").GetString());
            if (c.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finished[index] = c.GetProperty("finish_reason").GetString();
        }
        Assert.Equal(choices.Select(c => c.GetProperty("text").GetString()), streamed.Select(b => b.ToString()));
        Assert.All(finished, f => Assert.Equal("length", f));
        Assert.Equal(15, events[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Chat_takes_n_choices_too()
    {
        var (status, text) = await Post("v1/chat/completions", new { messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 3, n = 2, seed = 1 });
        Assert.Equal(HttpStatusCode.OK, status);
        var choices = JsonDocument.Parse(text).RootElement.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal(2, choices.Count);
        Assert.All(choices, c => Assert.Equal("assistant", c.GetProperty("message").GetProperty("role").GetString()));
    }

    [Fact]
    public async Task A_client_that_leaves_a_stream_of_n_choices_cancels_all_of_them_and_frees_their_blocks()
    {
        using (var http = _server.Http())
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
            {
                Content = new StringContent(JsonSerializer.Serialize(new { prompt = RandomPrompt(6, 20), max_tokens = 4000, n = 3, stream = true, ignore_eos = true }), Encoding.UTF8, "application/json"),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            int events = 0;
            while (events < 6 && await reader.ReadLineAsync() is { } line)
                if (line.StartsWith("data: {", StringComparison.Ordinal)) events++;
            Assert.Equal(6, events);
        } // the connection closes here, mid-generation
        var gauges = _server.Runtime.Metrics.Replica(0);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while ((gauges.BlocksUsed > 0 || gauges.Running > 0) && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.Equal(0, gauges.Running);
        Assert.Equal(0, gauges.BlocksUsed);
    }
}
