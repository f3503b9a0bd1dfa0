using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>
/// POST /v1/embeddings: <c>input</c> as a string, an array of strings, an array of token ids or an array of
/// token-id arrays; <c>encoding_format</c> float or base64 (little-endian float32, what the OpenAI SDKs ask
/// for by default); <c>dimensions</c> only as the model's own size (no truncation); usage counts the prompt
/// tokens. All inputs go to the runtime at once, so the scheduler batches them.
/// </summary>
public static partial class OpenAiServer
{
    private static async Task Embeddings(HttpContext ctx, LlmRuntime runtime, ModelNames names, ServerSettings settings, int maxPromptChars)
    {
        if (ctx.Request.ContentLength > settings.Limits.MaxBodyBytes)
        {
            await TooLarge(ctx, settings);
            return;
        }
        JsonDocument document;
        try
        {
            document = await JsonDocument.ParseAsync(ctx.Request.Body, default, ctx.RequestAborted);
        }
        catch (JsonException ex)
        {
            await Error(ctx, 400, $"the request body is not valid JSON ({Where(ex)})", "invalid_request_error", null);
            return;
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await TooLarge(ctx, settings);
            return;
        }
        using var _ = document;
        var body = document.RootElement;
        EmbeddingsRequest request;
        try
        {
            request = EmbeddingsRequest.Read(body, runtime.EmbeddingDimensions, settings.Limits.MaxEmbeddingInputs, maxPromptChars);
        }
        catch (RequestMapper.BadRequest ex)
        {
            await Error(ctx, 400, ex.Message, "invalid_request_error", ex.Param);
            return;
        }
        if (!names.Accepts(request.Model))
        {
            await ApiErrors.Write(ctx, 404, names.NotFoundMessage(request.Model!), "invalid_request_error", "model", "model_not_found");
            return;
        }

        string id = "embd-" + Guid.NewGuid().ToString("N")[..24];
        RequestLog.Tag(ctx, id);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        IReadOnlyList<EmbeddingResult> results;
        try
        {
            results = request.Texts is { } texts
                ? await runtime.EmbedAsync(texts, settings.EmbeddingPooling, ctx.RequestAborted)
                : await runtime.EmbedAsync(request.Tokens!, settings.EmbeddingPooling, ctx.RequestAborted);
        }
        catch (GenerationRejectedException ex)
        {
            var r = ex.Rejected;
            RequestLog.Rejected(ctx, r);
            await (r.Reason switch
            {
                RejectionReason.QueueFull => ApiErrors.Write(ctx, 429, r.Message, "rate_limit_exceeded", null, "rate_limit_exceeded", settings.RetryAfterSeconds),
                RejectionReason.ShuttingDown => ApiErrors.Write(ctx, 503, r.Message, "server_error", null, "shutting_down", settings.RetryAfterSeconds),
                _ => Error(ctx, 400, r.Message, "invalid_request_error", "input"),
            });
            return;
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            return; // the client left; its inputs were cancelled
        }
        catch (InvalidOperationException ex)
        {
            await Error(ctx, 500, ex.Message, "server_error", null);
            return;
        }

        RequestLog.Embedded(ctx, id, results.Count, results.Sum(r => r.PromptTokens), System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        ctx.Response.ContentType = "application/json";
        await using var w = new Utf8JsonWriter(ctx.Response.BodyWriter.AsStream());
        w.WriteStartObject();
        w.WriteString("object", "list");
        w.WriteStartArray("data");
        int promptTokens = 0;
        for (int i = 0; i < results.Count; i++)
        {
            promptTokens += results[i].PromptTokens;
            w.WriteStartObject();
            w.WriteString("object", "embedding");
            w.WriteNumber("index", i);
            if (request.Base64) w.WriteBase64String("embedding", MemoryMarshal.AsBytes(results[i].Vector.AsSpan())); // little-endian on every .NET target we run on
            else
            {
                w.WriteStartArray("embedding");
                foreach (float x in results[i].Vector) w.WriteNumberValue(x);
                w.WriteEndArray();
            }
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("model", request.Model ?? names.Served);
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", promptTokens);
        w.WriteNumber("total_tokens", promptTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }
}
