namespace Actors.Cluster.Routing;

/// <summary>One worker's load as a gateway sees it.</summary>
/// <param name="InFlight">Requests this gateway has running there (exact, no lag).</param>
/// <param name="Queued">Waiting plus running sequences from the worker's last status (all gateways', lags by a report interval).</param>
/// <param name="MaxRunning">Sequences it runs at once.</param>
/// <param name="MaxWaiting">Sequences it queues beyond those.</param>
/// <param name="KvUsage">Fraction of its KV blocks in use, 0-1.</param>
public readonly record struct WorkerLoad(string Worker, int InFlight, int Queued, int MaxRunning, int MaxWaiting, double KvUsage)
{
    /// <summary>Requests there now: the larger of this gateway's count and the worker's own report.</summary>
    public int Load => Math.Max(InFlight, Queued);

    /// <summary>Its queue would reject one more (running and waiting limits reached).</summary>
    public bool AtLimit => Load >= MaxRunning + MaxWaiting;

    /// <summary>Takes nothing new while another worker is not full: its KV or its running slots are used up.</summary>
    public bool Full(double kvFullFraction) => AtLimit || KvUsage >= kvFullFraction || Load >= MaxRunning;

    /// <summary>Load relative to its size (a worker with twice the slots takes twice the requests), plus KV pressure.</summary>
    public double Score => (double)Load / Math.Max(1, MaxRunning) + KvUsage;
}

/// <summary>
/// The gateway's placement decision, a pure function: among workers that are not full, the one that served
/// the prompt's prefix when its load is within <c>slack</c> requests of the least loaded, else the least
/// loaded (by <see cref="WorkerLoad.Score"/>; ties: fewer requests from this gateway, then name). When every
/// worker is full, the least loaded one whose queue still has room (it queues the request); none: -1.
/// </summary>
public static class WorkerChooser
{
    public static int Choose(IReadOnlyList<WorkerLoad> workers, string? affinity, int slack, double kvFullFraction)
    {
        int best = Best(workers, w => !w.Full(kvFullFraction));
        if (best < 0) return Best(workers, w => !w.AtLimit);
        if (affinity is null) return best;
        for (int i = 0; i < workers.Count; i++)
        {
            var w = workers[i];
            if (w.Worker == affinity && !w.Full(kvFullFraction) && w.Load <= workers[best].Load + slack) return i;
        }
        return best;
    }

    private static int Best(IReadOnlyList<WorkerLoad> workers, Func<WorkerLoad, bool> eligible)
    {
        int best = -1;
        for (int i = 0; i < workers.Count; i++)
        {
            var w = workers[i];
            if (!eligible(w)) continue;
            if (best < 0) { best = i; continue; }
            var b = workers[best];
            int c = w.Score.CompareTo(b.Score);
            if (c == 0) c = w.InFlight.CompareTo(b.InFlight);
            if (c == 0) c = string.CompareOrdinal(w.Worker, b.Worker);
            if (c < 0) best = i;
        }
        return best;
    }
}
