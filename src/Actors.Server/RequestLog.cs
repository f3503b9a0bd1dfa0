using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>
/// One log line per finished API request (category <c>Actors.Server.Requests</c>): the request id (also sent
/// as the <c>x-request-id</c> header), the endpoint, prompt, cached and completion tokens, time to first
/// token and total time, as structured fields. Rejections are logged with their reason.
/// </summary>
public static class RequestLog
{
    public const string Category = "Actors.Server.Requests";
    public const string Header = "x-request-id";

    private static ILogger? Logger(HttpContext ctx) => ctx.RequestServices.GetService<ILoggerFactory>()?.CreateLogger(Category);

    /// <summary>Tags the response with the request id before anything is written.</summary>
    public static void Tag(HttpContext ctx, string requestId) => ctx.Response.Headers[Header] = requestId;

    /// <summary>A generation request's choices ended (n choices: prompt once, completions added, first token of any, last end).</summary>
    public static void Finished(HttpContext ctx, string requestId, IReadOnlyList<GenerationCompleted> choices)
    {
        var log = Logger(ctx);
        if (log is null || !log.IsEnabled(LogLevel.Information) || choices.Count == 0) return;
        var first = choices[0];
        log.LogInformation("request {RequestId} {Path} {FinishReason}: prompt {PromptTokens} tokens ({CachedTokens} cached), completion {CompletionTokens} tokens, TTFT {TtftMs:F1} ms, total {TotalMs:F1} ms",
            requestId, ctx.Request.Path.Value, first.Reason, first.Usage.PromptTokens, first.Usage.CachedPromptTokens, choices.Sum(c => c.Usage.CompletionTokens),
            choices.Min(c => c.Timings.TimeToFirstTokenMs), choices.Max(c => c.Timings.TotalMs));
    }

    /// <summary>An embeddings request ended.</summary>
    public static void Embedded(HttpContext ctx, string requestId, int inputs, int promptTokens, double totalMs) =>
        Logger(ctx)?.LogInformation("request {RequestId} {Path}: {Inputs} inputs, prompt {PromptTokens} tokens, total {TotalMs:F1} ms",
            requestId, ctx.Request.Path.Value, inputs, promptTokens, totalMs);

    /// <summary>The runtime refused the request.</summary>
    public static void Rejected(HttpContext ctx, GenerationRejected rejected) =>
        Logger(ctx)?.LogInformation("request {RequestId} {Path} rejected ({Reason}): {Message}", rejected.RequestId, ctx.Request.Path.Value, rejected.Reason, rejected.Message);
}
