using Actors.Runtime.Protocol;

namespace Actors.Simulation.Serving;

/// <summary>What a closed-loop run looks like once its start-up and drain are cut off.</summary>
/// <param name="TokensPerSecond">Generated tokens per virtual second inside the window.</param>
/// <param name="ItlMs">Inter-token times of tokens generated inside the window.</param>
/// <param name="TtftMs">Time to first token of each replacement request, from the moment the request it replaced finished.</param>
public sealed record SteadyStateFigures(double TokensPerSecond, IReadOnlyList<double> ItlMs, IReadOnlyList<double> TtftMs,
    double WindowStartSeconds, double WindowEndSeconds, long TokensInWindow);

/// <summary>
/// Turns the per-request timings of a simulated run into closed-loop figures. The run submits every
/// request up front with at most <c>inFlight</c> of them running, so a waiting request starts when a
/// running one finishes: the scheduler's queue plays the client of a closed loop. Each replacement
/// request is paired with the completion that freed its place (the k-th replacement with the k-th
/// completion), which is when a closed-loop client would have sent it; its TTFT counts from there.
/// Throughput is measured between the first and the last replacement, when exactly <c>inFlight</c>
/// sequences run: the start-up burst and the drain at the end would otherwise distort it.
/// </summary>
public static class SteadyState
{
    public static SteadyStateFigures Measure(IReadOnlyList<Timings> requests, IReadOnlyList<double> arrivalSeconds, int inFlight)
    {
        if (requests.Count != arrivalSeconds.Count) throw new ArgumentException($"{requests.Count} timings for {arrivalSeconds.Count} arrivals");
        if (inFlight < 1) throw new ArgumentOutOfRangeException(nameof(inFlight), inFlight, "at least one sequence runs");
        int n = requests.Count;
        var admitted = new double[n];
        var finished = new double[n];
        var tokenTimes = new List<double>[n];
        for (int i = 0; i < n; i++)
        {
            var t = requests[i];
            admitted[i] = arrivalSeconds[i] + t.QueuedMs / 1000;
            var times = new List<double>(t.InterTokenMs.Length + 1);
            double at = arrivalSeconds[i] + t.TimeToFirstTokenMs / 1000;
            times.Add(at);
            foreach (double gap in t.InterTokenMs) times.Add(at += gap / 1000);
            tokenTimes[i] = times;
            finished[i] = times[^1];
        }

        var byAdmission = Enumerable.Range(0, n).OrderBy(i => admitted[i]).ThenBy(i => i).ToArray();
        var completions = finished.Order().ToArray();
        var replacements = byAdmission.Skip(inFlight).ToArray();
        var ttft = new List<double>(replacements.Length);
        for (int k = 0; k < replacements.Length; k++)
            ttft.Add(Math.Max(0, tokenTimes[replacements[k]][0] - completions[k]) * 1000);

        double start, end;
        if (replacements.Length >= 2)
        {
            start = admitted[replacements[0]];
            end = admitted[replacements[^1]];
        }
        else
        {
            // Too few requests for a steady state: the whole run.
            start = Math.Min(0, arrivalSeconds.Min());
            end = completions[^1];
        }

        long tokens = 0;
        var itl = new List<double>();
        foreach (var times in tokenTimes)
            for (int k = 0; k < times.Count; k++)
            {
                if (times[k] <= start || times[k] > end) continue;
                tokens++;
                if (k > 0) itl.Add((times[k] - times[k - 1]) * 1000);
            }
        double seconds = end - start;
        return new SteadyStateFigures(seconds > 0 ? tokens / seconds : 0, itl, ttft, start, end, tokens);
    }
}
