using Microsoft.AspNetCore.Http;

namespace Actors.Server;

/// <summary>Writes OpenAI-style error bodies: {"error": {"message", "type", "param", "code"}}.</summary>
public static class ApiErrors
{
    public const string InvalidRequest = "invalid_request_error";
    public const string ServerError = "server_error";

    public static async Task Write(HttpContext ctx, int status, string message, string type, string? param, string? code = null, int? retryAfterSeconds = null)
    {
        ctx.Response.StatusCode = status;
        if (retryAfterSeconds is { } s) ctx.Response.Headers.RetryAfter = s.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await ctx.Response.WriteAsJsonAsync(new { error = new ApiError(message, type, param, code) });
    }
}
