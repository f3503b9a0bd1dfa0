namespace Actors.Cli.Bench;

/// <summary>
/// Context switches of this process's threads (Linux /proc/self/task/*/status; zeros elsewhere), split
/// into the device compute threads (the device dispatcher's thread, named after
/// actors-runtime.device-dispatchers, and the CPU pool's workers) and all others. A compute thread's
/// involuntary switches are preemptions in the middle of a forward pass; the other threads' switches
/// are wake-ups that take a core from the compute threads when the cores are few.
/// </summary>
public readonly record struct ThreadSwitches(long ComputePreemptions, long ComputeWaits, long OtherSwitches)
{
    /// <summary>The counts over this process's threads, or over those whose name <paramref name="only"/> accepts.</summary>
    public static ThreadSwitches Read(Func<string, bool>? only = null)
    {
        long preempted = 0, waits = 0, other = 0;
        try
        {
            foreach (string task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                string name = "", status;
                try
                {
                    name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                    status = File.ReadAllText(Path.Combine(task, "status"));
                }
                catch (IOException)
                {
                    continue; // the thread ended meanwhile
                }
                if (only is not null && !only(name)) continue;
                long voluntary = Field(status, "\nvoluntary_ctxt_switches:"), involuntary = Field(status, "\nnonvoluntary_ctxt_switches:");
                if (IsComputeThread(name))
                {
                    preempted += involuntary;
                    waits += voluntary;
                }
                else other += voluntary + involuntary;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // not Linux: no figures
        }
        return new ThreadSwitches(preempted, waits, other);
    }

    /// <summary>The device dispatcher's thread or a CPU pool worker (Linux truncates names to 15 characters).</summary>
    public static bool IsComputeThread(string name) =>
        name.StartsWith("actors-runtime", StringComparison.Ordinal) || name.Contains("-worker-", StringComparison.Ordinal);

    private static long Field(string status, string key)
    {
        int at = status.IndexOf(key, StringComparison.Ordinal);
        if (at < 0) return 0;
        int start = at + key.Length, end = status.IndexOf('\n', start);
        return long.TryParse(status.AsSpan(start, (end < 0 ? status.Length : end) - start).Trim(), out long v) ? v : 0;
    }

    public static ThreadSwitches operator -(ThreadSwitches a, ThreadSwitches b) =>
        new(a.ComputePreemptions - b.ComputePreemptions, a.ComputeWaits - b.ComputeWaits, a.OtherSwitches - b.OtherSwitches);
}
