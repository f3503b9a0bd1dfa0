namespace Actors.Runtime.Tests.Configuration;

/// <summary>The repository's config/ folder, found above the test binaries.</summary>
public static class RepositoryConfig
{
    public static string Directory
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !System.IO.Directory.Exists(Path.Combine(dir.FullName, "config", "catalog"))) dir = dir.Parent;
            return Path.Combine(dir?.FullName ?? throw new DirectoryNotFoundException("config/ not found above the test binaries"), "config");
        }
    }

    public static string File(string name) => Path.Combine(Directory, name);
}
