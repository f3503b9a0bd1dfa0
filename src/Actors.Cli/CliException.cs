namespace Actors.Cli;

/// <summary>A user error: printed as one line, exit code 2. Never carries a stack trace to the user.</summary>
public sealed class CliException(string message) : Exception(message);
