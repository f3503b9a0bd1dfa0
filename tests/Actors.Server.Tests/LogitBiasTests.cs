using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;
using Actors.Runtime.Protocol;

namespace Actors.Server.Tests;

/// <summary>
/// OpenAI's logit_bias on completions and chat, through the official .NET SDK where it has the field,
/// checked against the runtime driven directly (the greedy choice and its runner-up).
/// </summary>
public sealed class LogitBiasTests(AliasedServer shared) : IClassFixture<AliasedServer>
{
    private readonly ServerHarness _server = shared.Server;

    private ChatClient Chat() =>
        new("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Base, "v1/") });

    private async Task<(HttpStatusCode Status, JsonElement Body)> Post(string path, object body)
    {
        using var http = _server.Http();
        var response = await http.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    private byte[] TokenBytes(int id) => _server.Runtime.Tokenizer.TokenBytes(id).ToArray();

    private static int[] RandomPrompt(int seed, int length)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => random.Next(3, 300)).ToArray();
    }

    [Fact]
    public async Task A_minus_100_bias_on_the_greedy_token_makes_the_runner_up_the_first_completion_token()
    {
        int[] prompt = RandomPrompt(31, 10);
        var direct = new List<TokenLogProb[]>();
        await foreach (var chunk in _server.Runtime.StreamAsync(new Generate
        {
            RequestId = "bias-direct", PromptTokens = prompt, MaxTokens = 1,
            Sampling = new SamplingOptions { Temperature = 0, IgnoreEos = true, LogProbs = true, TopLogProbs = 2 },
        }))
            direct.AddRange(chunk.TopLogProbs!);
        int best = direct[0][0].TokenId, runnerUp = direct[0][1].TokenId;

        var bias = new Dictionary<string, int> { [best.ToString()] = -100 };
        var (status, body) = await Post("v1/completions", new { prompt, max_tokens = 1, temperature = 0, ignore_eos = true, logprobs = 0, logit_bias = bias });
        Assert.Equal(HttpStatusCode.OK, status);
        string token = body.GetProperty("choices")[0].GetProperty("logprobs").GetProperty("tokens")[0].GetString()!;
        Assert.Equal(Encoding.UTF8.GetString(TokenBytes(runnerUp)), token);
    }

    [Fact]
    public async Task The_sdks_plus_100_bias_forces_the_token_at_every_position_greedy_or_sampled()
    {
        const int forced = 200;
        foreach (float temperature in new[] { 0f, 1.2f })
        {
            var options = new ChatCompletionOptions { Temperature = temperature, MaxOutputTokenCount = 5, IncludeLogProbabilities = true };
            options.LogitBiases.Add(forced, 100);
            ChatCompletion chat = await Chat().CompleteChatAsync([new UserChatMessage("Tell me a story")], options);
            Assert.Equal(5, chat.Usage.OutputTokenCount);
            Assert.All(chat.ContentTokenLogProbabilities, t => Assert.Equal(TokenBytes(forced), t.Utf8Bytes?.ToArray()));
            Assert.All(chat.ContentTokenLogProbabilities, t => Assert.True(t.LogProbability > -1e-3, "the forced token carries all the mass"));
        }
        // Streamed through the SDK too.
        var streamOptions = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 3 };
        streamOptions.LogitBiases.Add(forced, 100);
        var text = new StringBuilder();
        await foreach (var update in Chat().CompleteChatStreamingAsync([new UserChatMessage("hi")], streamOptions))
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
        string piece = Encoding.UTF8.GetString(TokenBytes(forced));
        Assert.Equal(string.Concat(Enumerable.Repeat(piece, 3)), text.ToString());
    }

    [Theory]
    [InlineData("{\"prompt\":\"hi\",\"logit_bias\":{\"320\":1}}", "not a token id of this model")]
    [InlineData("{\"prompt\":\"hi\",\"logit_bias\":{\"-1\":1}}", "not a token id of this model")]
    [InlineData("{\"prompt\":\"hi\",\"logit_bias\":{\"abc\":1}}", "not a token id of this model")]
    [InlineData("{\"prompt\":\"hi\",\"logit_bias\":{\"5\":101}}", "from -100 to 100")]
    [InlineData("{\"prompt\":\"hi\",\"logit_bias\":{\"5\":\"big\"}}", "from -100 to 100")]
    [InlineData("{\"prompt\":\"hi\",\"logit_bias\":[5]}", "must be an object")]
    public async Task A_bias_on_a_token_outside_the_vocabulary_or_out_of_range_is_a_400_naming_logit_bias(string json, string message)
    {
        using var http = _server.Http();
        var response = await http.PostAsync("v1/completions", new StringContent(json, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("error");
        Assert.Equal("logit_bias", error.GetProperty("param").GetString());
        Assert.Contains(message, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task The_sdk_gets_a_400_for_a_bias_outside_the_vocabulary()
    {
        var options = new ChatCompletionOptions();
        options.LogitBiases.Add(100_000, 5);
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Chat().CompleteChatAsync([new UserChatMessage("hi")], options));
        Assert.Equal(400, ex.Status);
        Assert.Contains("logit_bias", ex.Message);
    }
}
