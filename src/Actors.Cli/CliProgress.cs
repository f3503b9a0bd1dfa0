using Spectre.Console;

namespace Actors.Cli;

/// <summary>
/// A progress bar on stderr for long work (Spectre.Console), shown only to a person watching a terminal:
/// off when stdout or stderr is redirected or the command writes JSON, so pipes and files get only the
/// results (and the plain log lines the work would print anyway).
/// </summary>
public static class CliProgress
{
    /// <summary>Whether to draw: never for JSON output, never into a pipe or a file.</summary>
    public static bool ShouldShow(bool json, bool outputRedirected, bool errorRedirected) => !json && !outputRedirected && !errorRedirected;

    public static bool ShouldShow(bool json) => ShouldShow(json, Console.IsOutputRedirected, Console.IsErrorRedirected);

    /// <summary>
    /// Runs <paramref name="work"/> under a bar of <paramref name="total"/> steps when <paramref name="show"/> (cleared at
    /// the end); otherwise the reporter's step descriptions go to <paramref name="log"/> as lines, if given.
    /// </summary>
    public static async Task<T> Run<T>(bool show, string description, double total, Func<ProgressReporter, Task<T>> work, TextWriter? log = null)
    {
        if (!show) return await work(new ProgressReporter(null, log));
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        await console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(total, 1));
                result = await work(new ProgressReporter(task, null));
                task.Value = task.MaxValue;
            });
        return result;
    }

    /// <summary>As <see cref="Run{T}(bool, string, double, Func{ProgressReporter, Task{T}}, TextWriter?)"/> for synchronous work (on the thread pool while the bar draws).</summary>
    public static Task<T> Run<T>(bool show, string description, double total, Func<ProgressReporter, T> work, TextWriter? log = null) =>
        Run(show, description, total, reporter => show ? Task.Run(() => work(reporter)) : Task.FromResult(work(reporter)), log);
}

/// <summary>What long work tells its bar: how far it is, and which step it is on. Thread-safe; a no-op without a bar.</summary>
public sealed class ProgressReporter
{
    private readonly ProgressTask? _task;
    private readonly TextWriter? _log;

    internal ProgressReporter(ProgressTask? task, TextWriter? log)
    {
        _task = task;
        _log = log;
    }

    /// <summary>Steps done so far.</summary>
    public void Report(double done)
    {
        if (_task is { } t) t.Value = Math.Min(done, t.MaxValue);
    }

    /// <summary>The number of steps, once the work knows it.</summary>
    public void SetTotal(double total)
    {
        if (_task is { } t) t.MaxValue = Math.Max(total, 1);
    }

    /// <summary>From now on the bar only shows that work goes on (the remaining amount is not known).</summary>
    public void Indeterminate()
    {
        if (_task is { } t) t.IsIndeterminate = true;
    }

    /// <summary>The step now running: the bar's label, or a log line when there is no bar.</summary>
    public void Step(string description)
    {
        if (_task is { } t) t.Description = Markup.Escape(description);
        else _log?.WriteLine(description);
    }
}
