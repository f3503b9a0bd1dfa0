namespace Actors.Cli;

/// <summary>Turns any exception into the one line a user sees.</summary>
public static class CliErrors
{
    public static string Describe(Exception ex)
    {
        while (ex is AggregateException { InnerExceptions.Count: 1 } agg) ex = agg.InnerExceptions[0];
        return ex switch
        {
            FileNotFoundException f => $"file not found: {f.FileName ?? f.Message}",
            DirectoryNotFoundException d => d.Message,
            UnauthorizedAccessException u => u.Message,
            _ => ex.Message.Split('\n')[0].Trim(),
        };
    }
}
