using System.Reflection;

namespace Actors.Cli;

/// <summary>The version printed by <c>actors --version</c>: the package version, with the commit when the build knew it.</summary>
internal static class CliVersion
{
    public static string Text =>
        typeof(CliVersion).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(CliVersion).Assembly.GetName().Version?.ToString() ?? "unknown";
}
