namespace Actors.Runtime.Scheduling;

/// <summary>What the router knows about one replica when a new sequence arrives.</summary>
/// <param name="FreeKvBlocks">Blocks free in the replica's pool (cached-free ones included: they are reclaimable).</param>
/// <param name="QueuedTokens">Prompt tokens waiting in the replica's queue (work it must do before a newcomer).</param>
public readonly record struct ReplicaLoad(int FreeKvBlocks, long QueuedTokens);

/// <summary>
/// Chooses the replica (one pipeline with its own scheduler and KV pool) for a new sequence: the one
/// with the most free KV blocks, then the fewest queued tokens, then the lowest index, so the same
/// loads always give the same answer (reproducible tests and simulations). Pure: callers that route a
/// burst before fresh loads arrive should add each routed prompt to their copy of the chosen
/// replica's queued tokens, or the whole burst lands on one replica.
/// </summary>
public static class ReplicaRouter
{
    /// <summary>Index of the chosen replica, or -1 when there is none.</summary>
    public static int Choose(ReadOnlySpan<ReplicaLoad> replicas)
    {
        int best = -1;
        for (int i = 0; i < replicas.Length; i++)
        {
            if (best < 0 || IsBetter(replicas[i], replicas[best])) best = i;
        }
        return best;
    }

    private static bool IsBetter(ReplicaLoad candidate, ReplicaLoad current)
    {
        if (candidate.FreeKvBlocks != current.FreeKvBlocks) return candidate.FreeKvBlocks > current.FreeKvBlocks;
        return candidate.QueuedTokens < current.QueuedTokens; // equal: the lower index (current) stays
    }
}
