using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Actors.Runtime;

namespace Actors.Server;

/// <summary>
/// GET /health: liveness (the process answers; no API key needed). GET /ready: readiness — the model
/// is loaded, the runtime is running with at least one healthy replica (not failed, no step overdue),
/// and the server is not draining; 503 with the reasons otherwise, so a load balancer stops sending
/// before shutdown. Replicas out of rotation are listed either way.
/// </summary>
internal static class HealthEndpoints
{
    public static void Map(WebApplication app, LlmRuntime runtime, ServerLifecycle lifecycle)
    {
        app.MapGet(ServerGuards.LivenessPath, () => Results.Json(new { status = "ok" }));
        app.MapGet(ServerGuards.ReadinessPath, () =>
        {
            var problems = Readiness(runtime, lifecycle);
            var states = runtime.ReplicaStates();
            return Results.Json(new
            {
                status = problems.Count == 0 ? "ready" : "not ready",
                model = runtime.Model.Name,
                replicas = runtime.Layout.Replicas.Count,
                healthy_replicas = states.Count(r => r.Healthy),
                unhealthy_replicas = states.Where(r => !r.Healthy).Select(r => r.Problem).ToList(),
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
        else if (runtime.ReplicaStates() is var states && !states.Any(r => r.Healthy))
            problems.Add("no healthy replica: " + string.Join("; ", states.Select(r => r.Problem)));
        return problems;
    }
}
