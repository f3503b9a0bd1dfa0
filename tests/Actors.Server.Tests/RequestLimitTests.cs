using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Chat;

namespace Actors.Server.Tests;

/// <summary>Client input never gets a 500: every field's type and range, and the limits, are checked before any work.</summary>
public sealed class RequestLimitTests(SharedServer shared) : IClassFixture<SharedServer>
{
    private readonly ServerHarness _server = shared.Server;

    private async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> Post(string path, string json)
    {
        using var http = _server.Http();
        var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        string text = await response.Content.ReadAsStringAsync();
        var body = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, body, response);
    }

    private static void AssertOpenAiError(JsonElement body, string? param)
    {
        var error = body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.True(error.TryGetProperty("code", out _));
    }

    [Theory]
    // The examples from the issue: each was a 500 with an empty body, or (n: 0) accepted.
    [InlineData("v1/completions", """{"prompt":"hi","logprobs":1.5}""", "logprobs")]
    [InlineData("v1/completions", """{"prompt":"hi","stop":[1]}""", "stop[0]")]
    [InlineData("v1/completions", """{"prompt":"\ud800"}""", "prompt")]
    [InlineData("v1/chat/completions", """{"messages":[null]}""", "messages[0]")]
    [InlineData("v1/completions", """{"prompt":"hi","n":0}""", "n")]
    // Types.
    [InlineData("v1/completions", """{"prompt":"hi","max_tokens":"ten"}""", "max_tokens")]
    [InlineData("v1/completions", """{"prompt":"hi","temperature":[1]}""", "temperature")]
    [InlineData("v1/completions", """{"prompt":"hi","stream":"yes"}""", "stream")]
    [InlineData("v1/completions", """{"prompt":{"text":"hi"}}""", "prompt")]
    [InlineData("v1/completions", """{"prompt":[1,"a"]}""", "prompt")]
    [InlineData("v1/completions", """{"prompt":[1,2.5]}""", "prompt[1]")]
    [InlineData("v1/completions", """{"prompt":[1,-4]}""", "prompt[1]")]
    [InlineData("v1/completions", """{"prompt":[]}""", "prompt")]
    [InlineData("v1/completions", """{"prompt":"hi","stop":{"a":1}}""", "stop")]
    [InlineData("v1/chat/completions", """{"messages":[{"role":5,"content":"x"}]}""", "messages[0].role")]
    [InlineData("v1/chat/completions", """{"messages":[{"role":"user","content":7}]}""", "messages[1 - 1].content")]
    [InlineData("v1/chat/completions", """{"messages":[{"role":"user","content":[{"type":"image_url"}]}]}""", "messages[0].content[0].type")]
    [InlineData("v1/chat/completions", """{"messages":[{"role":"user","content":"\udc00x"}]}""", "messages[0].content")]
    [InlineData("v1/chat/completions", """{"messages":[{"role":"wizard","content":"x"}]}""", "messages[0].role")]
    [InlineData("v1/chat/completions", """{"messages":"hello"}""", "messages")]
    [InlineData("v1/chat/completions", """{"messages":[]}""", "messages")]
    // Ranges.
    [InlineData("v1/completions", """{"prompt":"hi","temperature":2.5}""", "temperature")]
    [InlineData("v1/completions", """{"prompt":"hi","top_p":-0.1}""", "top_p")]
    [InlineData("v1/completions", """{"prompt":"hi","min_p":1.5}""", "min_p")]
    [InlineData("v1/completions", """{"prompt":"hi","presence_penalty":3}""", "presence_penalty")]
    [InlineData("v1/completions", """{"prompt":"hi","frequency_penalty":-2.5}""", "frequency_penalty")]
    [InlineData("v1/completions", """{"prompt":"hi","repetition_penalty":0}""", "repetition_penalty")]
    [InlineData("v1/completions", """{"prompt":"hi","top_k":-2}""", "top_k")]
    [InlineData("v1/completions", """{"prompt":"hi","max_tokens":0}""", "max_tokens")]
    [InlineData("v1/completions", """{"prompt":"hi","max_tokens":99999999999}""", "max_tokens")]
    [InlineData("v1/completions", """{"prompt":"hi","temperature":1e300}""", "temperature")]
    [InlineData("v1/completions", """{"prompt":"hi","logprobs":21}""", "logprobs")]
    [InlineData("v1/completions", """{"prompt":"hi","n":17}""", "n")]
    // Stop sequences: count, length, emptiness.
    [InlineData("v1/completions", """{"prompt":"hi","stop":["a","b","c","d","e"]}""", "stop")]
    [InlineData("v1/completions", """{"prompt":"hi","stop":[""]}""", "stop")]
    public async Task Bad_fields_are_a_400_naming_the_field(string path, string json, string param)
    {
        var (status, body, _) = await Post(path, json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertOpenAiError(body, param.Replace("[1 - 1]", "[0]"));
    }

    [Fact]
    public async Task A_stop_sequence_longer_than_the_limit_is_refused()
    {
        var (status, body, _) = await Post("v1/completions", JsonSerializer.Serialize(new { prompt = "hi", stop = new string('x', 257) }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertOpenAiError(body, "stop");
        Assert.Contains("256", body.GetProperty("error").GetProperty("message").GetString());
    }

    [Theory]
    [InlineData("{\"prompt\": ", "prompt")]
    [InlineData("not json", null)]
    [InlineData("[1,2,3]", null)]
    [InlineData("null", null)]
    [InlineData("", null)]
    public async Task Malformed_json_is_a_400_with_an_openai_style_error(string json, string? param)
    {
        var (status, body, _) = await Post("v1/completions", json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertOpenAiError(body, param);
    }

    [Fact]
    public async Task Prompt_characters_are_limited_before_tokenizing()
    {
        var (status, body, _) = await Post("v1/completions", JsonSerializer.Serialize(new { prompt = new string('a', 2001), max_tokens = 1 }));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        AssertOpenAiError(body, "prompt");
        Assert.Contains("2001 characters", body.GetProperty("error").GetProperty("message").GetString());

        var chat = await Post("v1/chat/completions", JsonSerializer.Serialize(new
        {
            messages = new[] { new { role = "user", content = new string('a', 1500) }, new { role = "user", content = new string('b', 600) } },
        }));
        Assert.Equal(HttpStatusCode.BadRequest, chat.Status);
        AssertOpenAiError(chat.Body, "messages");
    }

    [Fact]
    public async Task A_body_over_the_size_limit_is_refused_with_413()
    {
        var (status, body, _) = await Post("v1/completions", JsonSerializer.Serialize(new { prompt = "hi", padding = new string('x', 70_000) }));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        AssertOpenAiError(body, null);
        Assert.Equal("request_too_large", body.GetProperty("error").GetProperty("code").GetString());

        // Without Content-Length (chunked), the limit holds while reading.
        using var http = _server.Http();
        var chunked = new StringContent(JsonSerializer.Serialize(new { prompt = "hi", padding = new string('x', 70_000) }), Encoding.UTF8, "application/json");
        chunked.Headers.ContentLength = null;
        var request = new HttpRequestMessage(HttpMethod.Post, "v1/completions") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task The_sdk_gets_a_400_naming_the_field_for_out_of_range_options()
    {
        var client = new ChatClient("tiny", new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Base, "v1/") });
        var cases = new (ChatCompletionOptions Options, string Param)[]
        {
            (new ChatCompletionOptions { TopP = 2 }, "top_p"),
            (new ChatCompletionOptions { FrequencyPenalty = 5 }, "frequency_penalty"),
            (new ChatCompletionOptions { PresencePenalty = -5 }, "presence_penalty"),
            (new ChatCompletionOptions { MaxOutputTokenCount = 0 }, "max_completion_tokens"),
        };
        var fiveStops = new ChatCompletionOptions();
        foreach (var s in new[] { "a", "b", "c", "d", "e" }) fiveStops.StopSequences.Add(s);
        foreach (var (options, param) in cases.Append((fiveStops, "stop")))
        {
            var ex = await Assert.ThrowsAsync<ClientResultException>(() => client.CompleteChatAsync([new UserChatMessage("hi")], options));
            Assert.Equal(400, ex.Status);
            using var doc = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString());
            AssertOpenAiError(doc.RootElement, param);
        }
    }

    [Fact]
    public async Task Random_field_values_never_get_a_500()
    {
        var random = new Random(13);
        string[] fields = ["prompt", "messages", "max_tokens", "temperature", "top_p", "top_k", "min_p", "stop", "n", "logprobs", "seed", "stream", "presence_penalty", "priority", "model"];
        for (int i = 0; i < 150; i++)
        {
            var body = new StringBuilder("{");
            var chosen = fields.Where(_ => random.NextDouble() < 0.35).ToList();
            for (int f = 0; f < chosen.Count; f++)
                body.Append(f > 0 ? "," : "").Append('"').Append(chosen[f]).Append("\":").Append(chosen[f] == "max_tokens" && random.NextDouble() < 0.5 ? "2" : RandomJson(random, 0));
            body.Append('}');
            string path = random.NextDouble() < 0.5 ? "v1/completions" : "v1/chat/completions";
            var (status, json, _) = await Post(path, body.ToString());
            // 404 only for a model name the server does not serve (OpenAI's model_not_found).
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{path} {body} → {(int)status}");
            if (status != HttpStatusCode.OK) Assert.Equal("invalid_request_error", json.GetProperty("error").GetProperty("type").GetString());
            if (status == HttpStatusCode.NotFound) Assert.Equal("model_not_found", json.GetProperty("error").GetProperty("code").GetString());
        }
    }

    private static string RandomJson(Random r, int depth) => r.Next(depth < 2 ? 12 : 9) switch
    {
        0 => "null",
        1 => r.Next(2) == 0 ? "true" : "false",
        2 => r.Next(-3, 5).ToString(),
        3 => (r.NextDouble() * 4 - 1).ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        4 => "1e39",
        5 => "\"hi\"",
        6 => "\"\\ud800\"",
        7 => "\"\"",
        8 => "99999999999",
        9 => "[" + string.Join(",", Enumerable.Range(0, r.Next(4)).Select(_ => RandomJson(r, depth + 1))) + "]",
        10 => "{\"role\":" + RandomJson(r, depth + 1) + ",\"content\":" + RandomJson(r, depth + 1) + "}",
        _ => "[{\"role\":\"user\",\"content\":" + RandomJson(r, depth + 1) + "}]",
    };
}
