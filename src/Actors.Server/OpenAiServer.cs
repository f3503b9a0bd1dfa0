using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Actors.Runtime;
using Actors.Runtime.Internal;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>
/// An OpenAI-compatible HTTP server over the runtime: /v1/models, /v1/completions and
/// /v1/chat/completions (with server-sent-event streaming), /health. A client that disconnects
/// cancels its request at once, so its KV blocks are freed (llama.cpp regressed on this twice).
/// </summary>
public static class OpenAiServer
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <param name="chatTemplate">A template file or built-in name overriding the model's (`serve --chat-template`).</param>
    public static WebApplication Build(LlmRuntime runtime, string url, string? modelName = null, string? chatTemplate = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        var app = builder.Build();
        string model = modelName ?? Path.GetFileNameWithoutExtension(runtime.Model.Name);
        var template = ChatPromptBuilder.ForRuntime(runtime, chatTemplate);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        app.MapGet("/health", () => Results.Json(new { status = "ok" }));
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = new[] { new { id = model, @object = "model", created, owned_by = "actors" } },
        }));
        app.MapPost("/v1/completions", (HttpContext ctx) => Handle(ctx, runtime, model, template, chat: false));
        app.MapPost("/v1/chat/completions", (HttpContext ctx) => Handle(ctx, runtime, model, template, chat: true));
        TokenizeEndpoints.Map(app, runtime.Tokenizer);
        return app;
    }

    private static async Task Handle(HttpContext ctx, LlmRuntime runtime, string model, ChatPromptBuilder template, bool chat)
    {
        CompletionRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<CompletionRequest>(ctx.Request.Body, Json, ctx.RequestAborted);
        }
        catch (JsonException ex)
        {
            await Error(ctx, 400, $"the request body is not valid JSON: {ex.Message}", "invalid_request_error", null);
            return;
        }
        if (body is null)
        {
            await Error(ctx, 400, "the request body is empty", "invalid_request_error", null);
            return;
        }
        Generate request;
        try
        {
            request = RequestMapper.ToGenerate(body, chat, template, "cmpl-" + Guid.NewGuid().ToString("N")[..24]);
        }
        catch (RequestMapper.BadRequest ex)
        {
            await Error(ctx, 400, ex.Message, "invalid_request_error", ex.Param);
            return;
        }
        if (body.Stream) await Stream(ctx, runtime, request, model, chat);
        else await Whole(ctx, runtime, request, model, chat);
    }

    private static async Task Whole(HttpContext ctx, LlmRuntime runtime, Generate request, string model, bool chat)
    {
        GenerationResult result;
        try
        {
            result = await runtime.GenerateAsync(request, ctx.RequestAborted);
        }
        catch (GenerationRejectedException ex)
        {
            await Rejected(ctx, ex.Rejected);
            return;
        }
        catch (OperationCanceledException)
        {
            return; // the client went away; the request was cancelled
        }
        var done = result.Completed;
        if (done.Reason == FinishReason.Error)
        {
            await Error(ctx, 500, done.Error ?? "generation failed", "server_error", null);
            return;
        }
        ctx.Response.ContentType = "application/json";
        using var w = new Utf8JsonWriter(ctx.Response.BodyWriter.AsStream());
        w.WriteStartObject();
        w.WriteString("id", request.RequestId);
        w.WriteString("object", chat ? "chat.completion" : "text_completion");
        w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        if (chat)
        {
            w.WriteStartObject("message");
            w.WriteString("role", "assistant");
            w.WriteString("content", result.Text);
            w.WriteEndObject();
        }
        else w.WriteString("text", result.Text);
        w.WriteNull("logprobs");
        w.WriteString("finish_reason", FinishName(done.Reason));
        w.WriteEndObject();
        w.WriteEndArray();
        WriteUsage(w, done.Usage);
        w.WriteEndObject();
        await w.FlushAsync();
    }

    private static async Task Stream(HttpContext ctx, LlmRuntime runtime, Generate request, string model, bool chat)
    {
        // Start generating first, so a rejection can still be an HTTP error rather than an event.
        var (stream, completion) = runtime.StreamWithCompletion(request, ctx.RequestAborted);
        var chunks = stream.GetAsyncEnumerator(ctx.RequestAborted);
        bool hasFirst;
        try
        {
            hasFirst = await chunks.MoveNextAsync();
        }
        catch (GenerationRejectedException ex)
        {
            await Rejected(ctx, ex.Rejected);
            return;
        }
        catch (OperationCanceledException)
        {
            return;
        }
        ctx.Response.ContentType = "text/event-stream";
        ctx.Response.Headers.CacheControl = "no-cache";
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        bool first = true;
        try
        {
            while (hasFirst)
            {
                await Event(ctx, ChunkJson(request.RequestId, created, model, chat, chunks.Current.Text, first, null));
                first = false;
                hasFirst = await chunks.MoveNextAsync();
            }
            var done = await completion;
            if (done.Reason == FinishReason.Error)
                await ctx.Response.WriteAsync("data: " + JsonSerializer.Serialize(new { error = new ApiError(done.Error ?? "generation failed", "server_error", null, null) }) + "\n\n", ctx.RequestAborted);
            else await Event(ctx, ChunkJson(request.RequestId, created, model, chat, "", first, FinishName(done.Reason)));
            await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            // Client disconnected: leaving the enumeration cancelled the request.
        }
        finally
        {
            await chunks.DisposeAsync();
        }
    }

    private static string ChunkJson(string id, long created, string model, bool chat, string text, bool first, string? finish)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("id", id);
            w.WriteString("object", chat ? "chat.completion.chunk" : "text_completion");
            w.WriteNumber("created", created);
            w.WriteString("model", model);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", 0);
            if (chat)
            {
                w.WriteStartObject("delta");
                if (first) w.WriteString("role", "assistant");
                if (finish is null || text.Length > 0) w.WriteString("content", text);
                w.WriteEndObject();
            }
            else w.WriteString("text", text);
            w.WriteNull("logprobs");
            if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static async Task Event(HttpContext ctx, string json)
    {
        await ctx.Response.WriteAsync("data: " + json + "\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }

    private static void WriteUsage(Utf8JsonWriter w, Usage u)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", u.PromptTokens);
        w.WriteNumber("completion_tokens", u.CompletionTokens);
        w.WriteNumber("total_tokens", u.PromptTokens + u.CompletionTokens);
        w.WriteEndObject();
    }

    private static string FinishName(FinishReason r) => r == FinishReason.Length ? "length" : "stop";

    private static Task Rejected(HttpContext ctx, GenerationRejected r) => r.Reason switch
    {
        RejectionReason.QueueFull => Error(ctx, 429, r.Message, "rate_limit_exceeded", null),
        RejectionReason.ShuttingDown => Error(ctx, 503, r.Message, "server_error", null),
        _ => Error(ctx, 400, r.Message, "invalid_request_error", r.Reason == RejectionReason.PromptTooLong ? "prompt" : null),
    };

    private static async Task Error(HttpContext ctx, int status, string message, string type, string? param)
    {
        ctx.Response.StatusCode = status;
        await ctx.Response.WriteAsJsonAsync(new { error = new ApiError(message, type, param, null) });
    }
}
