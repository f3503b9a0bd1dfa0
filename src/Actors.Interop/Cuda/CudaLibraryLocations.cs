namespace Actors.Interop.Cuda;

/// <summary>
/// Folders where NVRTC and cuBLAS live when they are not on the loader's search path. A typical GPU
/// image has them in a CUDA toolkit (lib64 of $CUDA_PATH, $CUDA_HOME, /usr/local/cuda or a versioned
/// /usr/local/cuda-X.Y), or only inside NVIDIA's Python wheels (site-packages/nvidia/&lt;package&gt;/lib,
/// e.g. nvidia/cublas/lib for CUDA 12 wheels, nvidia/cu13/lib for CUDA 13 ones) installed with PyTorch.
/// </summary>
public static class CudaLibraryLocations
{
    /// <summary>Colon-separated extra folders searched before all others (run.sh adds the Python interpreter's own site-packages).</summary>
    public const string PathVariable = "ACTORS_CUDA_LIBRARY_PATH";

    /// <summary>The folders of this process's environment and file system, in search order, existing ones only.</summary>
    public static IReadOnlyList<string> LibraryDirectories() =>
        LibraryDirectories(Environment.GetEnvironmentVariable, "/");

    /// <summary>
    /// Search order (pure apart from listing folders under <paramref name="root"/>): $ACTORS_CUDA_LIBRARY_PATH;
    /// the toolkits ($CUDA_PATH, $CUDA_HOME, /usr/local/cuda, /usr/local/cuda-* newest first; lib64 and
    /// targets/x86_64-linux/lib); then the nvidia/*/lib folders of every site-packages found
    /// ($VIRTUAL_ENV, $CONDA_PREFIX, /opt/conda, /usr/local/lib and /usr/lib python3*, ~/.local).
    /// A toolkit's stubs/ folder is never included: its libraries only answer "stub library".
    /// </summary>
    public static IReadOnlyList<string> LibraryDirectories(Func<string, string?> env, string root)
    {
        var dirs = new List<string>();
        void Add(string dir)
        {
            if (dir.Length == 0 || dir.Contains($"{Path.DirectorySeparatorChar}stubs", StringComparison.Ordinal)) return;
            string full = Path.GetFullPath(dir);
            if (Directory.Exists(full) && !dirs.Contains(full)) dirs.Add(full);
        }
        string R(string path) => Path.Combine(root, path.TrimStart('/'));

        foreach (string dir in (env(PathVariable) ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            Add(dir);

        var toolkits = new List<string?> { env("CUDA_PATH"), env("CUDA_HOME"), R("/usr/local/cuda") };
        toolkits.AddRange(Subfolders(R("/usr/local"), "cuda-*").OrderByDescending(VersionOf));
        foreach (string? toolkit in toolkits)
        {
            if (string.IsNullOrWhiteSpace(toolkit)) continue;
            Add(Path.Combine(toolkit, "lib64"));
            Add(Path.Combine(toolkit, "targets", "x86_64-linux", "lib"));
        }

        foreach (string sitePackages in SitePackages(env, root))
        foreach (string package in Subfolders(Path.Combine(sitePackages, "nvidia"), "*").Order(StringComparer.Ordinal))
            Add(Path.Combine(package, "lib"));
        return dirs;
    }

    /// <summary>site-packages / dist-packages folders of the usual Python installations (existing ones).</summary>
    public static IEnumerable<string> SitePackages(Func<string, string?> env, string root)
    {
        string R(string path) => Path.Combine(root, path.TrimStart('/'));
        var prefixes = new List<string>();
        foreach (string? prefix in new[] { env("VIRTUAL_ENV"), env("CONDA_PREFIX") })
            if (!string.IsNullOrWhiteSpace(prefix)) prefixes.Add(Path.Combine(prefix, "lib"));
        prefixes.Add(R("/opt/conda/lib"));
        prefixes.Add(R("/usr/local/lib"));
        prefixes.Add(R("/usr/lib"));
        string? home = env("HOME");
        if (!string.IsNullOrWhiteSpace(home)) prefixes.Add(Path.Combine(home, ".local", "lib"));
        foreach (string lib in prefixes)
        foreach (string python in Subfolders(lib, "python3*").OrderByDescending(VersionOf))
        foreach (string name in new[] { "site-packages", "dist-packages" })
        {
            string dir = Path.Combine(python, name);
            if (Directory.Exists(dir)) yield return dir;
        }
    }

    private static IEnumerable<string> Subfolders(string dir, string pattern)
    {
        try
        {
            return Directory.Exists(dir) ? Directory.GetDirectories(dir, pattern) : [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>"cuda-12.10" or "python3.12" → (12, 10) or (3, 12), so 12.10 sorts after 12.9.</summary>
    private static (int, int) VersionOf(string dir)
    {
        string name = Path.GetFileName(dir);
        int start = name.IndexOfAny("0123456789".ToCharArray());
        var parts = start < 0 ? [] : name[start..].Split('.');
        int Part(int i) => i < parts.Length && int.TryParse(parts[i], out int v) ? v : 0;
        return (Part(0), Part(1));
    }
}
