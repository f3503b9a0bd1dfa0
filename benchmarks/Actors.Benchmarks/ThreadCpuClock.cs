using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Actors.Benchmarks;

/// <summary>
/// The calling thread's CPU time (Linux CLOCK_THREAD_CPUTIME_ID): on a machine shared with other builds, time the
/// thread actually ran, so a preempted round does not count its wait. Cache interference from the neighbours
/// still counts. Elsewhere (or where the call fails) it falls back to the wall clock.
/// </summary>
internal static class ThreadCpuClock
{
    /// <summary>Whether $ACTORS_BENCH_CLOCK=thread asked benchmarks to time on this clock.</summary>
    public static bool Requested => Environment.GetEnvironmentVariable("ACTORS_BENCH_CLOCK") == "thread";

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    private const int ThreadCpuTimeId = 3;

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec ts);

    /// <summary>Seconds of CPU time this thread has used (or wall seconds where that is not available).</summary>
    public static double Now()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(ThreadCpuTimeId, out var ts) == 0) return ts.Seconds + ts.Nanoseconds * 1e-9;
        return Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;
    }
}
