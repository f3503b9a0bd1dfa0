using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using OpenAI;
using OpenAI.Embeddings;

namespace Actors.Server.Tests;

/// <summary>/v1/embeddings through the official OpenAI .NET SDK and raw HTTP, against the runtime's own embeddings.</summary>
public sealed class EmbeddingsEndpointTests(AliasedServer shared) : IClassFixture<AliasedServer>
{
    private readonly ServerHarness _server = shared.Server;

    private EmbeddingClient Client(string model = "tiny") =>
        new(model, new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Base, "v1/") });

    private async Task<(HttpStatusCode Status, JsonElement Body)> Post(string json)
    {
        using var http = _server.Http();
        var response = await http.PostAsync("v1/embeddings", new StringContent(json, Encoding.UTF8, "application/json"));
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    [Fact]
    public async Task The_sdks_embeddings_are_the_runtimes_in_input_order_with_usage()
    {
        string[] inputs = ["The quick brown fox", "jumps over the lazy dog", "again and again and again"];
        var expected = await _server.Runtime.EmbedAsync(inputs);
        OpenAIEmbeddingCollection got = await Client().GenerateEmbeddingsAsync(inputs);
        Assert.Equal(3, got.Count);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i, got[i].Index);
            Assert.Equal(expected[i].Vector, got[i].ToFloats().ToArray()); // base64 by default in the SDK: bit for bit
        }
        Assert.Equal(expected.Sum(e => e.PromptTokens), got.Usage.InputTokenCount);
        Assert.Equal(got.Usage.InputTokenCount, got.Usage.TotalTokenCount);

        OpenAIEmbedding one = await Client("gpt-4o-mini").GenerateEmbeddingAsync(inputs[1], new EmbeddingGenerationOptions { Dimensions = _server.Runtime.EmbeddingDimensions });
        Assert.Equal(expected[1].Vector, one.ToFloats().ToArray());
    }

    [Fact]
    public async Task The_sdk_gets_a_400_naming_dimensions_other_than_the_models()
    {
        var ex = await Assert.ThrowsAsync<ClientResultException>(() => Client().GenerateEmbeddingAsync("hi", new EmbeddingGenerationOptions { Dimensions = 8 }));
        Assert.Equal(400, ex.Status);
        var error = JsonDocument.Parse(ex.GetRawResponse()!.Content.ToString()).RootElement.GetProperty("error");
        Assert.Equal("dimensions", error.GetProperty("param").GetString());
        Assert.Contains($"{_server.Runtime.EmbeddingDimensions} dimensions", error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Float_format_and_token_inputs_give_the_same_unit_vectors()
    {
        var ids = _server.Runtime.Tokenizer.Encode("hello there", true, false);
        var (status, body) = await Post($$"""{"input":"hello there","encoding_format":"float","model":"tiny"}""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("list", body.GetProperty("object").GetString());
        Assert.Equal("tiny", body.GetProperty("model").GetString());
        var data = body.GetProperty("data")[0];
        Assert.Equal("embedding", data.GetProperty("object").GetString());
        var vector = data.GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(_server.Runtime.EmbeddingDimensions, vector.Length);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(x => (double)x * x)), 5);
        Assert.Equal(ids.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        var (_, single) = await Post(JsonSerializer.Serialize(new { input = ids, encoding_format = "float" }));
        var (_, nested) = await Post(JsonSerializer.Serialize(new { input = new[] { ids, ids.Take(3).ToArray() }, encoding_format = "float" }));
        var fromTokens = single.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray();
        Assert.Equal(vector, fromTokens);
        Assert.Equal(2, nested.GetProperty("data").GetArrayLength());
        Assert.Equal(vector, nested.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(x => x.GetSingle()).ToArray());
        Assert.Equal(ids.Length + 3, nested.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Theory]
    [InlineData("{}", "input")]
    [InlineData("{\"input\":[]}", "input")]
    [InlineData("{\"input\":\"\"}", "input")]
    [InlineData("{\"input\":[\"a\",5]}", "input[1]")]
    [InlineData("{\"input\":[5,-1]}", "input[1]")]
    [InlineData("{\"input\":[[1,2],[]]}", "input[1]")]
    [InlineData("{\"input\":[1,100000]}", "input")]
    [InlineData("{\"input\":{\"text\":\"hi\"}}", "input")]
    [InlineData("{\"input\":\"hi\",\"encoding_format\":\"int8\"}", "encoding_format")]
    [InlineData("{\"input\":\"hi\",\"dimensions\":\"64\"}", "dimensions")]
    public async Task Bad_inputs_are_a_400_naming_the_field(string json, string param)
    {
        var (status, body) = await Post(json);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = body.GetProperty("error");
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
    }

    [Fact]
    public async Task An_unknown_model_is_a_404()
    {
        var (status, body) = await Post("{\"input\":\"hi\",\"model\":\"text-embedding-3-small\"}");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("model_not_found", body.GetProperty("error").GetProperty("code").GetString());
    }
}
