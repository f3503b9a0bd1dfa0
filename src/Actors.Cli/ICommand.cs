namespace Actors.Cli;

/// <summary>One `actors` sub-command.</summary>
public interface ICommand
{
    string Name { get; }
    string Summary { get; }
    IReadOnlyList<OptionSpec> Options { get; }
    /// <summary>Runs the command; returns the process exit code.</summary>
    Task<int> RunAsync(Arguments args, TextWriter output, CancellationToken cancel);
}
