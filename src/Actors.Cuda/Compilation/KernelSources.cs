using System.Text.RegularExpressions;

namespace Actors.Cuda.Compilation;

/// <summary>
/// The CUDA sources: every kernels/*.cu (one op family each) and the shared headers kernels/*.cuh,
/// handed to NVRTC in memory. By default they come from this assembly's embedded resources
/// ("kernels/&lt;file&gt;"); tests may load a directory instead.
/// </summary>
public sealed partial class KernelSources
{
    /// <summary>Kernel files by name ("rmsnorm.cu" → source).</summary>
    public IReadOnlyDictionary<string, string> Files { get; }
    /// <summary>Headers by include name ("common.cuh" → source).</summary>
    public IReadOnlyDictionary<string, string> Headers { get; }

    public KernelSources(IReadOnlyDictionary<string, string> files, IReadOnlyDictionary<string, string> headers)
    {
        Files = files;
        Headers = headers;
    }

    private static readonly Lazy<KernelSources> EmbeddedSources = new(LoadEmbedded);

    /// <summary>The sources embedded in Actors.Cuda at build time.</summary>
    public static KernelSources Embedded => EmbeddedSources.Value;

    private static KernelSources LoadEmbedded()
    {
        var assembly = typeof(KernelSources).Assembly;
        var files = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var headers = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith("kernels/", StringComparison.Ordinal)) continue;
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            string name = resource["kernels/".Length..];
            (name.EndsWith(".cuh", StringComparison.Ordinal) ? headers : files)[name] = reader.ReadToEnd();
        }
        if (files.Count == 0) throw new InvalidOperationException("Actors.Cuda was built without its kernels/*.cu resources");
        return new KernelSources(files, headers);
    }

    /// <summary>Reads *.cu and *.cuh from a directory (the repository's kernels/ folder).</summary>
    public static KernelSources FromDirectory(string directory)
    {
        Dictionary<string, string> Read(string pattern) =>
            Directory.GetFiles(directory, pattern).Order(StringComparer.Ordinal).ToDictionary(f => Path.GetFileName(f), File.ReadAllText);
        return new KernelSources(Read("*.cu"), Read("*.cuh"));
    }

    public string this[string file] =>
        Files.TryGetValue(file, out var text) ? text : throw new KeyNotFoundException($"no kernel file '{file}' (have {string.Join(", ", Files.Keys)})");

    [GeneratedRegex(@"extern\s+""C""\s+__global__\s+void\s+(?:__launch_bounds__\s*\([^)]*\)\s*)?(\w+)\s*\(")]
    private static partial Regex EntryPointPattern();

    /// <summary>The `extern "C" __global__` kernels a source defines, in order (pure).</summary>
    public static IReadOnlyList<string> EntryPoints(string source) =>
        EntryPointPattern().Matches(source).Select(m => m.Groups[1].Value).ToList();

    /// <summary>The kernel file that defines <paramref name="entryPoint"/>.</summary>
    public string FileOf(string entryPoint) =>
        Files.FirstOrDefault(f => EntryPoints(f.Value).Contains(entryPoint)).Key
        ?? throw new KeyNotFoundException($"no kernels/*.cu defines extern \"C\" {entryPoint}");
}
