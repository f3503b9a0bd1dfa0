namespace Actors.Interop.Cuda;

/// <summary>
/// Which file a loaded native library really came from: the loader resolves a soname through
/// LD_LIBRARY_PATH, its cache and RUNPATHs, so the name we asked for does not say where it was found.
/// On Linux the answer is in /proc/self/maps.
/// </summary>
public static class LoadedLibraries
{
    /// <summary>The full path of the mapped file whose name starts with <paramref name="fileNamePrefix"/> (e.g. "libcublasLt.so"), or null.</summary>
    public static string? PathOf(string fileNamePrefix)
    {
        try
        {
            return File.Exists("/proc/self/maps") ? FindInMaps(File.ReadAllText("/proc/self/maps"), fileNamePrefix) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// Parses /proc/&lt;pid&gt;/maps text (address perms offset dev inode path) and returns the first mapped
    /// path whose file name starts with <paramref name="fileNamePrefix"/> (pure).
    /// </summary>
    public static string? FindInMaps(string maps, string fileNamePrefix)
    {
        foreach (var line in maps.AsSpan().EnumerateLines())
        {
            int slash = line.IndexOf('/');
            if (slash < 0) continue;
            var path = line[slash..].TrimEnd();
            if (path.EndsWith(" (deleted)")) path = path[..^" (deleted)".Length];
            var name = path[(path.LastIndexOf('/') + 1)..];
            if (name.StartsWith(fileNamePrefix, StringComparison.Ordinal)) return path.ToString();
        }
        return null;
    }
}
