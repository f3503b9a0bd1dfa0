using Actors.Simulation.Catalog;

namespace Actors.Simulation.Serving;

/// <summary>One batching mode's figures from a simulated run, in virtual time.</summary>
/// <param name="WallSeconds">Wall time the runtime took (start-up excluded).</param>
/// <param name="RuntimeMicrosecondsPerToken">The runtime's CPU time per generated token outside forward passes.</param>
public sealed record SimulatedModeResult(string Mode, double VirtualSeconds, long GeneratedTokens, double TokensPerSecond,
    IReadOnlyList<double> TtftMs, IReadOnlyList<double> ItlMs, long Preemptions, double WallSeconds = 0, double RuntimeMicrosecondsPerToken = 0);

/// <summary>
/// The `actors bench` modes on simulated GPUs, each through the real actor runtime on a virtual clock:
/// continuous batching (at most <c>concurrency</c> sequences running, a finished one replaced at
/// once), static batching (batches of <c>concurrency</c> that wait for their slowest member before the
/// next starts) and sequential (one request at a time).
/// </summary>
public static class SimulatedBench
{
    public static async Task<SimulatedModeResult> RunAsync(string mode, ModelShape model, WeightFormat format, Planning.Topology topology,
        int pipeline, int replicas, IReadOnlyList<(int Prompt, int Output)> requests, int concurrency, CancellationToken cancel = default, bool topKSampling = true)
    {
        switch (mode)
        {
            case "continuous":
                return From(mode, await SimulatedServing.RunAsync(model, format, topology, pipeline, replicas, AllAtZero(requests), maxRunningSequences: concurrency, cancel: cancel, topKSampling: topKSampling));
            case "sequential":
                return From(mode, await SimulatedServing.RunAsync(model, format, topology, pipeline, replicas, AllAtZero(requests), maxRunningSequences: 1, cancel: cancel, topKSampling: topKSampling));
            case "static":
            {
                double seconds = 0, wall = 0, runtimeCpu = 0;
                long tokens = 0, preemptions = 0;
                var ttft = new List<double>();
                var itl = new List<double>();
                for (int i = 0; i < requests.Count; i += concurrency)
                {
                    var batch = AllAtZero(requests.Skip(i).Take(concurrency).ToList());
                    var r = await SimulatedServing.RunAsync(model, format, topology, pipeline, replicas, batch, maxRunningSequences: concurrency, cancel: cancel, topKSampling: topKSampling);
                    seconds += r.VirtualSeconds; // the next batch starts when this one's slowest member is done
                    tokens += r.GeneratedTokens;
                    preemptions += r.Preemptions;
                    wall += r.WallSeconds;
                    runtimeCpu += r.RuntimeMicrosecondsPerToken * r.GeneratedTokens;
                    ttft.AddRange(r.TtftMs);
                    itl.AddRange(r.ItlMs);
                }
                return new SimulatedModeResult(mode, seconds, tokens, tokens / seconds, ttft, itl, preemptions, wall, tokens == 0 ? 0 : runtimeCpu / tokens);
            }
            default:
                throw new ArgumentException($"mode '{mode}' is not continuous, static or sequential");
        }
    }

    private static List<SimulatedRequest> AllAtZero(IReadOnlyList<(int Prompt, int Output)> requests) =>
        requests.Select(r => new SimulatedRequest(r.Prompt, r.Output, 0)).ToList();

    private static SimulatedModeResult From(string mode, SimulationResult r) =>
        new(mode, r.VirtualSeconds, r.GeneratedTokens, r.DecodeTokensPerSecond, r.TtftMs, r.ItlMs, r.Preemptions, r.WallSeconds, r.RuntimeMicrosecondsPerToken);
}
