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
using Actors.Server.Metrics;

namespace Actors.Server;

/// <summary>
/// An OpenAI-compatible HTTP server over the runtime: /v1/models, /v1/completions and
/// /v1/chat/completions (with server-sent-event streaming), /health (liveness), /ready (readiness)
/// and /metrics (Prometheus).
/// Every request is checked against the limits before any work (see <see cref="RequestMapper"/>). A
/// client that disconnects cancels its request at once, so its KV blocks are freed (llama.cpp
/// regressed on this twice).
/// </summary>
public static partial class OpenAiServer
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <param name="chatTemplate">A template file or built-in name overriding the model's (`serve --chat-template`).</param>
    public static WebApplication Build(LlmRuntime runtime, string url, string? modelName = null, ServerSettings? settings = null, string? chatTemplate = null)
    {
        settings ??= ServerSettings.Default;
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(url);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = settings.Limits.MaxBodyBytes);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddOpenAiEndpoints(settings);
        var app = builder.Build();
        return MapOpenAiEndpoints(app, runtime, modelName, chatTemplate, guardEveryPath: true);
    }

    /// <summary>Registers what <see cref="MapOpenAiEndpoints(WebApplication, LlmRuntime?, string?, string?)"/> needs: the settings, the drain lifecycle, the metrics exporter.</summary>
    public static IServiceCollection AddOpenAiEndpoints(this IServiceCollection services, ServerSettings? settings = null)
    {
        settings ??= ServerSettings.Default;
        services.AddSingleton(new ServerLifecycle());
        services.AddSingleton(settings);
        services.AddActorsMetrics(settings);
        return services;
    }

    /// <summary>
    /// Maps the OpenAI endpoints, /health, /ready and /metrics on any WebApplication, after
    /// <c>services.AddOpenAiEndpoints()</c>. The runtime is the one given or the one in DI
    /// (<c>services.AddLlmRuntime(...)</c>). The guards (API key, drain) cover these paths only: the host
    /// app's own endpoints are left as they are.
    /// </summary>
    /// <param name="chatTemplate">A template file or built-in name overriding the model's own chat template.</param>
    public static WebApplication MapOpenAiEndpoints(this WebApplication app, LlmRuntime? runtime = null, string? modelName = null, string? chatTemplate = null) =>
        MapOpenAiEndpoints(app, runtime, modelName, chatTemplate, guardEveryPath: false);

    private static WebApplication MapOpenAiEndpoints(WebApplication app, LlmRuntime? runtime, string? modelName, string? chatTemplate, bool guardEveryPath)
    {
        runtime ??= app.Services.GetRequiredService<LlmRuntime>();
        var settings = app.Services.GetService<ServerSettings>()
            ?? throw new InvalidOperationException("call services.AddOpenAiEndpoints() before app.MapOpenAiEndpoints()");
        var lifecycle = app.Services.GetRequiredService<ServerLifecycle>();
        string model = modelName ?? Path.GetFileNameWithoutExtension(runtime.Model.Name);
        var names = new ModelNames(model, settings.ModelAliases);
        var context = new RequestMapper.Context(settings.Limits, MaxPromptChars(runtime, settings.Limits), settings.AllowClientPriority,
            ChatPromptBuilder.ForRuntime(runtime, chatTemplate), settings.MaxRequestDuration, runtime.Model.Config.VocabSize);
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

        if (guardEveryPath) ServerGuards.Use(app, settings, lifecycle);
        else app.UseWhen(ctx => ServerGuards.Covers(ctx.Request.Path), branch => ServerGuards.Use(branch, settings, lifecycle));
        HealthEndpoints.Map(app, runtime, lifecycle);
        app.MapActorsMetrics(runtime);
        app.MapGet("/v1/models", () => Results.Json(new
        {
            @object = "list",
            data = names.All.Select(id => new { id, @object = "model", created, owned_by = "actors" }).ToArray(),
        }));
        app.MapPost("/v1/completions", (HttpContext ctx) => Handle(ctx, runtime, names, context, settings, chat: false));
        app.MapPost("/v1/chat/completions", (HttpContext ctx) => Handle(ctx, runtime, names, context, settings, chat: true));
        app.MapPost("/v1/embeddings", (HttpContext ctx) => Embeddings(ctx, runtime, names, settings, context.MaxPromptChars));
        TokenizeEndpoints.Map(app, runtime.Tokenizer);
        return app;
    }

    /// <summary>
    /// The configured limit, or the most characters a prompt that fits the model length can have: each
    /// token covers at most its longest piece (plus one for a space prefix), so longer text cannot fit.
    /// </summary>
    internal static int MaxPromptChars(LlmRuntime runtime, RequestLimits limits)
    {
        if (limits.MaxPromptChars > 0) return limits.MaxPromptChars;
        var tokenizer = runtime.Tokenizer;
        int longest = 1;
        for (int id = 0; id < tokenizer.VocabSize; id++)
            longest = Math.Max(longest, Math.Max(tokenizer.TokenText(id).Length, tokenizer.TokenBytes(id).Length));
        int context = runtime.Model.Config.ContextLength;
        int maxModelLength = runtime.Settings.Scheduler.MaxModelLength > 0 ? Math.Min(runtime.Settings.Scheduler.MaxModelLength, context) : context;
        return (int)Math.Min(int.MaxValue, (long)maxModelLength * (longest + 1));
    }

    private static async Task Handle(HttpContext ctx, LlmRuntime runtime, ModelNames names, RequestMapper.Context context, ServerSettings settings, bool chat)
    {
        if (ctx.Request.ContentLength > settings.Limits.MaxBodyBytes)
        {
            await TooLarge(ctx, settings);
            return;
        }
        CompletionRequest? body;
        try
        {
            body = await JsonSerializer.DeserializeAsync<CompletionRequest>(ctx.Request.Body, Json, ctx.RequestAborted);
        }
        catch (JsonException ex)
        {
            string? param = ParamOf(ex.Path);
            await Error(ctx, 400, param is null
                ? $"the request body is not valid JSON ({Where(ex)})"
                : $"{param} has the wrong type or is not valid JSON ({Where(ex)}){Expected(param)}", "invalid_request_error", param);
            return;
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            await TooLarge(ctx, settings);
            return;
        }
        if (body is null)
        {
            await Error(ctx, 400, "the request body is empty or null: send a JSON object", "invalid_request_error", null);
            return;
        }
        if (!names.Accepts(body.Model))
        {
            await ApiErrors.Write(ctx, 404, names.NotFoundMessage(body.Model!), "invalid_request_error", "model", "model_not_found");
            return;
        }
        // The response names the model as asked (an alias stays an alias), as OpenAI echoes it.
        string model = body.Model ?? names.Served;
        Generate request;
        bool includeUsage;
        try
        {
            request = RequestMapper.ToGenerate(body, chat, context, "cmpl-" + Guid.NewGuid().ToString("N")[..24]);
            includeUsage = RequestMapper.ReadStreamOptions(body);
        }
        catch (RequestMapper.BadRequest ex)
        {
            await Error(ctx, 400, ex.Message, "invalid_request_error", ex.Param);
            return;
        }
        var choices = RequestMapper.Choices(request, body.N ?? 1);
        RequestLog.Tag(ctx, request.RequestId);
        if (body.Stream) await Stream(ctx, runtime, choices, model, chat, settings, includeUsage);
        else await Whole(ctx, runtime, choices, model, chat, settings);
    }

    private static Task TooLarge(HttpContext ctx, ServerSettings settings) =>
        ApiErrors.Write(ctx, 413, $"the request body is larger than {settings.Limits.MaxBodyBytes} bytes (actors-server.limits.max-body-bytes)",
            "invalid_request_error", null, "request_too_large");

    /// <summary>"$.messages[0].role" → "messages[0].role"; null for the whole body.</summary>
    internal static string? ParamOf(string? path) =>
        path is null or "$" ? null : path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path.TrimStart('$');

    private static string Where(JsonException ex) =>
        ex.BytePositionInLine is { } pos ? $"line {(ex.LineNumber ?? 0) + 1}, byte {pos + 1}" : "at the end";

    private static string Expected(string param) => (param.Contains('.') ? param[(param.LastIndexOf('.') + 1)..] : param) switch
    {
        "max_tokens" or "max_completion_tokens" or "n" or "top_k" or "seed" or "priority" => ": expected an integer",
        "temperature" or "top_p" or "min_p" or "presence_penalty" or "frequency_penalty" or "repetition_penalty" => ": expected a number",
        "stream" or "ignore_eos" => ": expected a boolean",
        "model" or "role" => ": expected a string",
        "messages" => ": expected an array of message objects",
        _ => "",
    };

    private static void WriteUsage(Utf8JsonWriter w, Usage u)
    {
        w.WriteStartObject("usage");
        w.WriteNumber("prompt_tokens", u.PromptTokens);
        w.WriteNumber("completion_tokens", u.CompletionTokens);
        w.WriteNumber("total_tokens", u.PromptTokens + u.CompletionTokens);
        // Prompt tokens whose KV came from the prefix cache rather than being computed.
        w.WriteStartObject("prompt_tokens_details");
        w.WriteNumber("cached_tokens", u.CachedPromptTokens);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    /// <summary>OpenAI knows "stop" and "length"; a request cut by the server's duration limit, or evicted as a reader that stopped reading, is reported as "length" too.</summary>
    private static string FinishName(FinishReason r) => r is FinishReason.Length or FinishReason.Deadline or FinishReason.Evicted ? "length" : "stop";

    private static Task Rejected(HttpContext ctx, GenerationRejected r, ServerSettings settings)
    {
        RequestLog.Rejected(ctx, r);
        return RejectedResponse(ctx, r, settings);
    }

    private static Task RejectedResponse(HttpContext ctx, GenerationRejected r, ServerSettings settings) => r.Reason switch
    {
        // 429 with Retry-After: clients (the OpenAI SDKs among them) back off and retry.
        RejectionReason.QueueFull => ApiErrors.Write(ctx, 429, r.Message, "rate_limit_exceeded", null, "rate_limit_exceeded", settings.RetryAfterSeconds),
        RejectionReason.ShuttingDown => ApiErrors.Write(ctx, 503, r.Message, "server_error", null, "shutting_down", settings.RetryAfterSeconds),
        RejectionReason.Unavailable => ApiErrors.Write(ctx, 503, r.Message, "server_error", null, "unavailable", settings.RetryAfterSeconds),
        RejectionReason.InternalError => Error(ctx, 500, r.Message, "server_error", null),
        _ => Error(ctx, 400, r.Message, "invalid_request_error", r.Reason == RejectionReason.PromptTooLong ? "prompt" : null),
    };

    private static Task Error(HttpContext ctx, int status, string message, string type, string? param) =>
        ApiErrors.Write(ctx, status, message, type, param);
}
