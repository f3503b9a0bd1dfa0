using System.Diagnostics;
using System.Reflection;
using Actors.Interop.Cuda;

namespace Actors.Cuda.Tests.GpuCheck;

/// <summary>
/// Runs GPU test cases inside this process and reports each on one line of a line protocol that the
/// isolating parent (<see cref="IsolatedSuite"/>) reads:
///   START &lt;id&gt;
///   PASS &lt;id&gt; &lt;seconds&gt;
///   FAIL &lt;id&gt; &lt;seconds&gt; &lt;message on one line&gt;
///   LOST &lt;id&gt;            (a sticky CUDA error: nothing more can run in this process)
/// </summary>
public static class CaseRunner
{
    public const int ExitPassed = 0, ExitFailed = 1, ExitContextLost = 4;

    /// <summary>Runs the cases in order; stops after a case that loses the CUDA context. Returns the exit code.</summary>
    public static int Run(IEnumerable<GpuCase> cases, TextWriter output, Action<GpuCase>? invoke = null)
    {
        invoke ??= Invoke;
        int exit = ExitPassed;
        foreach (var c in cases)
        {
            output.WriteLine($"START {c.Id}");
            output.Flush();
            var sw = Stopwatch.StartNew();
            try
            {
                invoke(c);
                output.WriteLine($"PASS {c.Id} {sw.Elapsed.TotalSeconds:0.000}");
            }
            catch (Exception e)
            {
                var error = e is TargetInvocationException { InnerException: not null } t ? t.InnerException! : e;
                output.WriteLine($"FAIL {c.Id} {sw.Elapsed.TotalSeconds:0.000} {OneLine($"{c.Display}: {error.GetType().Name}: {error.Message}")}");
                exit = ExitFailed;
                if (IsContextLost(error))
                {
                    output.WriteLine($"LOST {c.Id}");
                    output.Flush();
                    return ExitContextLost;
                }
            }
            output.Flush();
        }
        return exit;
    }

    public static bool IsContextLost(Exception? e)
    {
        for (; e != null; e = e.InnerException)
            if (e is CudaException { IsContextLost: true }) return true;
        return false;
    }

    public static string OneLine(string text, int max = 1500)
    {
        string line = string.Join(" | ", text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return line.Length <= max ? line : line[..max] + " …";
    }

    private static void Invoke(GpuCase c)
    {
        object? instance = Activator.CreateInstance(c.Method.DeclaringType!);
        try
        {
            c.Method.Invoke(instance, c.Arguments);
        }
        finally
        {
            (instance as IDisposable)?.Dispose();
        }
    }
}
