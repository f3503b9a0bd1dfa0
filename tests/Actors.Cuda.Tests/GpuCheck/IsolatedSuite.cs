using System.Diagnostics;

namespace Actors.Cuda.Tests.GpuCheck;

/// <summary>How one case ended in the isolated run.</summary>
public enum CaseOutcome
{
    Passed,
    Failed,
    /// <summary>The child process died (crash, sanitizer abort) while this case ran.</summary>
    Crashed,
    TimedOut,
    /// <summary>Not run: the time budget was spent, or the child could not start.</summary>
    NotRun,
}

public sealed record CaseResult(string Id, CaseOutcome Outcome, double Seconds, string Message);

/// <summary>What one child process printed and how it ended.</summary>
public sealed record ChildRun(IReadOnlyList<string> Lines, int ExitCode, bool TimedOut, double Seconds);

/// <summary>
/// Runs GPU test cases with one process per test method (a CUDA context lives and dies with its
/// process): a sticky error, crash or hang in one case costs that case only. The child runs the
/// method's remaining cases and reports each (<see cref="CaseRunner"/>); when it stops early, the case
/// it was running is charged and a new child resumes with the next one. The decisions are here, pure
/// over a child-running function, so they are tested without a GPU.
/// </summary>
public static class IsolatedSuite
{
    /// <param name="runChild">Runs the given case ids in a new process.</param>
    /// <param name="budgetSeconds">After this much time, remaining cases are reported as not run.</param>
    /// <param name="memcheckError">Given a case's output lines, the sanitizer error attributed to it, if any.</param>
    public static IReadOnlyList<CaseResult> Run(IReadOnlyList<GpuCase> cases, Func<IReadOnlyList<string>, ChildRun> runChild,
        double budgetSeconds, Action<CaseResult>? report = null, Func<string, IReadOnlyList<string>, string?>? memcheckError = null)
    {
        var results = new List<CaseResult>();
        void Add(CaseResult r)
        {
            results.Add(r);
            report?.Invoke(r);
        }
        var clock = Stopwatch.StartNew();
        foreach (var method in cases.GroupBy(c => c.MethodId))
        {
            var remaining = method.Select(c => c.Id).ToList();
            while (remaining.Count > 0)
            {
                if (clock.Elapsed.TotalSeconds >= budgetSeconds)
                {
                    foreach (string id in remaining) Add(new CaseResult(id, CaseOutcome.NotRun, 0, $"time budget of {budgetSeconds:0} s spent"));
                    break;
                }
                var child = runChild(remaining);
                var done = Interpret(remaining, child, memcheckError);
                foreach (var r in done) Add(r);
                var reported = done.Select(r => r.Id).ToHashSet();
                int last = remaining.FindLastIndex(reported.Contains);
                if (done.Count == 0)
                {
                    // The child never reached a case (could not start, device would not open): say why once for all.
                    string why = $"the test process ended (exit {child.ExitCode}{(child.TimedOut ? ", timed out" : "")}) before its first case: {CaseRunner.OneLine(string.Join('\n', child.Lines.TakeLast(8)))}";
                    foreach (string id in remaining) Add(new CaseResult(id, CaseOutcome.NotRun, 0, why));
                    break;
                }
                remaining = remaining.Skip(last + 1).ToList();
            }
        }
        return results;
    }

    /// <summary>Reads one child's lines: every START gets the PASS/FAIL that follows it, or the way the child ended.</summary>
    public static List<CaseResult> Interpret(IReadOnlyList<string> ids, ChildRun child, Func<string, IReadOnlyList<string>, string?>? memcheckError = null)
    {
        var results = new List<CaseResult>();
        string? current = null;
        var caseLines = new List<string>();
        void Finish(CaseOutcome outcome, double seconds, string message)
        {
            string? memcheck = memcheckError?.Invoke(current!, caseLines);
            if (memcheck != null && outcome == CaseOutcome.Passed) (outcome, message) = (CaseOutcome.Failed, memcheck);
            else if (memcheck != null) message += " | " + memcheck;
            results.Add(new CaseResult(current!, outcome, seconds, message));
            current = null;
            caseLines.Clear();
        }
        foreach (string line in child.Lines)
        {
            var parts = line.Split(' ', 4);
            if (parts.Length >= 2 && parts[0] == "START" && ids.Contains(parts[1]))
            {
                if (current != null) Finish(CaseOutcome.Crashed, 0, "no result line before the next case started");
                current = parts[1];
            }
            else if (current != null && parts.Length >= 3 && parts[1] == current && parts[0] is "PASS" or "FAIL")
            {
                double seconds = double.TryParse(parts[2], System.Globalization.CultureInfo.InvariantCulture, out double s) ? s : 0;
                if (parts[0] == "PASS") Finish(CaseOutcome.Passed, seconds, "");
                else Finish(CaseOutcome.Failed, seconds, parts.Length > 3 ? parts[3] : "failed");
            }
            else if (current != null)
            {
                caseLines.Add(line);
            }
        }
        if (current != null)
        {
            var tail = CaseRunner.OneLine(string.Join('\n', caseLines.TakeLast(6)));
            if (child.TimedOut) Finish(CaseOutcome.TimedOut, child.Seconds, $"timed out: the case ran {child.Seconds:0} s and its process was killed. {tail}");
            else Finish(CaseOutcome.Crashed, child.Seconds, $"the test process died (exit {child.ExitCode}) during this case. {tail}");
        }
        return results;
    }

    /// <summary>
    /// compute-sanitizer prints its findings as "========= " lines between our START and result lines;
    /// any such line other than the banner and a zero error summary is charged to the case.
    /// </summary>
    public static string? SanitizerError(string id, IReadOnlyList<string> lines)
    {
        var findings = lines.Where(l => l.StartsWith("=========", StringComparison.Ordinal)
            && !l.Contains("COMPUTE-SANITIZER", StringComparison.Ordinal) && !l.Contains("ERROR SUMMARY: 0 errors", StringComparison.Ordinal)
            && l.Trim('=', ' ').Length > 0).ToList();
        return findings.Count == 0 ? null : "memcheck: " + CaseRunner.OneLine(string.Join('\n', findings.Take(6)), 800);
    }

    /// <summary>
    /// Starts this program again as a child running <paramref name="ids"/>, optionally under a wrapper
    /// command (compute-sanitizer); kills it when one case runs longer than <paramref name="timeoutSeconds"/>.
    /// </summary>
    public static ChildRun RunChildProcess(IReadOnlyList<string> ids, IReadOnlyList<string> wrapper, double timeoutSeconds, TextWriter? log)
    {
        var (exe, prefix) = SelfCommand();
        var psi = new ProcessStartInfo(wrapper.Count > 0 ? wrapper[0] : exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string a in wrapper.Skip(1)) psi.ArgumentList.Add(a);
        if (wrapper.Count > 0) psi.ArgumentList.Add(exe);
        foreach (string a in prefix) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("run-cases");
        foreach (string id in ids) psi.ArgumentList.Add(id);

        var lines = new List<string>();
        var gate = new object();
        var sw = Stopwatch.StartNew();
        var caseStarted = TimeSpan.Zero; // the timeout is per case: a method with many cases may take longer in all
        using var process = new Process { StartInfo = psi };
        void OnLine(string? line)
        {
            if (line == null) return;
            lock (gate)
            {
                lines.Add(line);
                log?.WriteLine(line);
                if (line.StartsWith("START ", StringComparison.Ordinal)) caseStarted = sw.Elapsed;
            }
        }
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return new ChildRun([$"could not start {psi.FileName}: {e.Message}"], 127, false, 0);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        bool timedOut = false;
        while (!process.WaitForExit(250))
        {
            TimeSpan since;
            lock (gate) since = sw.Elapsed - caseStarted;
            if (since.TotalSeconds <= timeoutSeconds) continue;
            timedOut = true;
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit(TimeSpan.FromSeconds(10));
            break;
        }
        if (!timedOut) process.WaitForExit(); // drains the output readers
        double seconds;
        lock (gate) seconds = (sw.Elapsed - caseStarted).TotalSeconds;
        lock (gate) return new ChildRun(lines.ToList(), timedOut ? 137 : process.ExitCode, timedOut, timedOut ? seconds : sw.Elapsed.TotalSeconds);
    }

    /// <summary>The command that starts this program: the apphost of a published bundle, or `dotnet &lt;dll&gt;`.</summary>
    private static (string Exe, string[] Prefix) SelfCommand()
    {
        string exe = Environment.ProcessPath ?? throw new InvalidOperationException("the process path is unknown");
        return Path.GetFileNameWithoutExtension(exe) == "dotnet"
            ? (exe, [typeof(IsolatedSuite).Assembly.Location])
            : (exe, []);
    }
}
