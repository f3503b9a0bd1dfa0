namespace Actors.Interop.Cuda;

/// <summary>Where a CUDA toolkit's libraries usually live when they are not on the loader's search path.</summary>
public static class CudaToolkit
{
    /// <summary>
    /// Existing library folders of $CUDA_PATH, $CUDA_HOME and /usr/local/cuda (lib64, and
    /// targets/x86_64-linux/lib), in that order, without duplicates.
    /// </summary>
    public static IReadOnlyList<string> LibraryDirectories()
    {
        var roots = new[] { Environment.GetEnvironmentVariable("CUDA_PATH"), Environment.GetEnvironmentVariable("CUDA_HOME"), "/usr/local/cuda" };
        var dirs = new List<string>();
        foreach (string? root in roots)
        {
            if (string.IsNullOrWhiteSpace(root)) continue;
            foreach (string sub in OperatingSystem.IsWindows() ? new[] { "bin", Path.Combine("bin", "x64") } : new[] { "lib64", Path.Combine("targets", "x86_64-linux", "lib") })
            {
                string dir = Path.Combine(root, sub);
                if (Directory.Exists(dir) && !dirs.Contains(dir)) dirs.Add(dir);
            }
        }
        return dirs;
    }
}
