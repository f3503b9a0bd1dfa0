using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Actors.Inference.Tokenization;

namespace Actors.Server;

/// <summary>
/// llama.cpp's /tokenize and /detokenize. POST /tokenize {"content", "add_special" (false), "parse_special"
/// (true), "with_pieces" (false)} → {"tokens": [ids]} or, with pieces, [{"id", "piece"}] (the piece a string,
/// or its bytes where they are not valid UTF-8). POST /detokenize {"tokens": [ids]} → {"content"}.
/// </summary>
public static class TokenizeEndpoints
{
    public sealed class TokenizeRequest
    {
        [JsonPropertyName("content")] public string? Content { get; set; }
        [JsonPropertyName("add_special")] public bool AddSpecial { get; set; }
        [JsonPropertyName("parse_special")] public bool ParseSpecial { get; set; } = true;
        [JsonPropertyName("with_pieces")] public bool WithPieces { get; set; }
    }

    public sealed class DetokenizeRequest
    {
        [JsonPropertyName("tokens")] public int[]? Tokens { get; set; }
    }

    public static void Map(WebApplication app, Tokenizer tokenizer)
    {
        app.MapPost("/tokenize", async (HttpContext ctx) =>
        {
            var body = await Read<TokenizeRequest>(ctx);
            if (body is null) return;
            if (body.Content is null) { await Error(ctx, "content is required: the text to tokenize", "content"); return; }
            int[] ids = tokenizer.Encode(body.Content, body.AddSpecial, body.ParseSpecial);
            if (!body.WithPieces) { await ctx.Response.WriteAsJsonAsync(new { tokens = ids }); return; }
            var strict = new UTF8Encoding(false, throwOnInvalidBytes: true);
            var pieces = ids.Select(id =>
            {
                var bytes = tokenizer.TokenBytes(id).ToArray();
                object piece;
                try { piece = strict.GetString(bytes); } catch (DecoderFallbackException) { piece = bytes.Select(b => (int)b).ToArray(); }
                return new { id, piece };
            });
            await ctx.Response.WriteAsJsonAsync(new { tokens = pieces });
        });
        app.MapPost("/detokenize", async (HttpContext ctx) =>
        {
            var body = await Read<DetokenizeRequest>(ctx);
            if (body is null) return;
            var ids = body.Tokens ?? [];
            for (int i = 0; i < ids.Length; i++)
                if ((uint)ids[i] >= (uint)tokenizer.VocabSize)
                {
                    await Error(ctx, $"tokens[{i}] = {ids[i]} is outside the vocabulary 0..{tokenizer.VocabSize - 1}", "tokens");
                    return;
                }
            await ctx.Response.WriteAsJsonAsync(new { content = tokenizer.Decode(ids, renderSpecial: true, stripSpacePrefix: false) });
        });
    }

    private static async Task<T?> Read<T>(HttpContext ctx) where T : class
    {
        try
        {
            var body = await JsonSerializer.DeserializeAsync<T>(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
            if (body is null) await Error(ctx, "the request body is empty", null);
            return body;
        }
        catch (JsonException ex)
        {
            await Error(ctx, $"the request body is not valid JSON: {ex.Message}", null);
            return null;
        }
    }

    private static async Task Error(HttpContext ctx, string message, string? param)
    {
        ctx.Response.StatusCode = 400;
        await ctx.Response.WriteAsJsonAsync(new { error = new ApiError(message, "invalid_request_error", param, null) });
    }
}
