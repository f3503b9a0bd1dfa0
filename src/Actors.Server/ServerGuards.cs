using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Actors.Server;

/// <summary>
/// What runs before any endpoint: a last-resort error body (never an empty 500), the API key check
/// (every path but liveness), and admission while draining (503 for new requests).
/// </summary>
internal static class ServerGuards
{
    public const string LivenessPath = "/health";
    public const string ReadinessPath = "/ready";

    /// <summary>The paths the server maps; on a host app's WebApplication only these are guarded.</summary>
    public static bool Covers(PathString path) =>
        path.StartsWithSegments("/v1") || path.Equals(LivenessPath) || path.Equals(ReadinessPath) || path.Equals(Metrics.PrometheusMetrics.Path);

    public static void Use(IApplicationBuilder app, ServerSettings settings, ServerLifecycle lifecycle)
    {
        var log = app.ApplicationServices.GetService(typeof(ILoggerFactory)) is ILoggerFactory f ? f.CreateLogger("Actors.Server") : null;
        app.Use(async (ctx, next) =>
        {
            try
            {
                await next(ctx);
            }
            catch (Microsoft.AspNetCore.Http.BadHttpRequestException ex) when (!ctx.Response.HasStarted)
            {
                // The client broke off or garbled its own body (a cancel while uploading): its fault, not the server's.
                ctx.Response.Clear();
                await ApiErrors.Write(ctx, ex.StatusCode, $"the request body could not be read: {ex.Message}", ApiErrors.InvalidRequest, null);
            }
            catch (Exception ex) when (!ctx.Response.HasStarted && ex is not OperationCanceledException)
            {
                log?.LogError(ex, "unhandled error on {Path}", ctx.Request.Path);
                ctx.Response.Clear();
                await ApiErrors.Write(ctx, 500, $"internal error ({ex.GetType().Name}): {ex.Message}", ApiErrors.ServerError, null);
            }
        });

        byte[]? expected = settings.ApiKey is { } key ? SHA256.HashData(Encoding.UTF8.GetBytes("Bearer " + key)) : null;
        if (expected is not null)
        {
            app.Use(async (ctx, next) =>
            {
                if (ctx.Request.Path.Equals(LivenessPath) || Authorized(ctx.Request.Headers.Authorization.ToString(), expected))
                {
                    await next(ctx);
                    return;
                }
                ctx.Response.Headers.WWWAuthenticate = "Bearer";
                await ApiErrors.Write(ctx, 401, ctx.Request.Headers.Authorization.Count == 0
                    ? "missing API key: send the header \"Authorization: Bearer <key>\""
                    : "invalid API key", ApiErrors.InvalidRequest, null, "invalid_api_key");
            });
        }

        app.Use(async (ctx, next) =>
        {
            if (ctx.Request.Path.Equals(LivenessPath) || ctx.Request.Path.Equals(ReadinessPath))
            {
                await next(ctx);
                return;
            }
            if (!lifecycle.TryEnter())
            {
                ctx.Response.Headers.Connection = "close";
                await ApiErrors.Write(ctx, 503, "the server is shutting down and accepts no new requests", ApiErrors.ServerError, null, "shutting_down", settings.RetryAfterSeconds);
                return;
            }
            try
            {
                await next(ctx);
            }
            finally
            {
                lifecycle.Exit();
            }
        });
    }

    /// <summary>Compares hashes in constant time, so response timing reveals neither how much of a guessed key was right nor its length.</summary>
    private static bool Authorized(string header, byte[] expectedHash) =>
        CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(header)), expectedHash);
}
