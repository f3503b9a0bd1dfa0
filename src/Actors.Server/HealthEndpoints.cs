using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Actors.Runtime;

namespace Actors.Server;

/// <summary>
/// GET /health: liveness (the process answers; no API key needed). GET /ready: readiness — the model
/// is loaded, the runtime is running with at least one replica, and the server is not draining;
/// 503 with the reasons otherwise, so a load balancer stops sending before shutdown.
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(WebApplication app, LlmRuntime runtime, ServerLifecycle lifecycle)
    {
        app.MapGet(ServerGuards.LivenessPath, () => Results.Json(new { status = "ok" }));
        app.MapGet(ServerGuards.ReadinessPath, () =>
        {
            var problems = Readiness(runtime, lifecycle);
            return Results.Json(new
            {
                status = problems.Count == 0 ? "ready" : "not ready",
                model = runtime.Model.Name,
                replicas = runtime.Layout.Replicas.Count,
                in_flight = lifecycle.InFlight,
                problems,
            }, statusCode: problems.Count == 0 ? 200 : 503);
        });
    }

    public static List<string> Readiness(LlmRuntime runtime, ServerLifecycle lifecycle)
    {
        var problems = new List<string>();
        if (lifecycle.Draining) problems.Add("shutting down: draining in-flight requests");
        if (runtime.IsTerminated) problems.Add("the runtime's actor system has terminated");
        if (runtime.Layout.Replicas.Count == 0) problems.Add("no replica is running");
        return problems;
    }
}
