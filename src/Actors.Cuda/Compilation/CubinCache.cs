using System.Security.Cryptography;
using System.Text;
using Actors.Inference.Synthetic;

namespace Actors.Cuda.Compilation;

/// <summary>
/// On-disk cache of compiled kernels: &lt;root&gt;/cubin/&lt;sha256&gt;.cubin (or .ptx), where root is
/// $ACTORS_CACHE or ~/.cache/actors and the hash covers everything that changes the output (NVRTC
/// version, target, options, file name, source and every header). Writes go through a temporary
/// file and a rename, so concurrent processes never read half a file.
/// </summary>
public sealed class CubinCache
{
    public const string RootVariable = "ACTORS_CACHE";

    public string Directory { get; }

    public CubinCache(string? directory = null)
    {
        Directory = directory ?? DefaultDirectory();
    }

    /// <summary>&lt;root&gt;/cubin, the root being the project's cache ($ACTORS_CACHE, else ~/.cache/actors), as generated models use.</summary>
    public static string DefaultDirectory(string? cacheRoot = null) =>
        Path.Combine(cacheRoot ?? SyntheticModelGenerator.DefaultCacheDirectory, "cubin");

    /// <summary>Lower-case hex SHA-256 of the length-prefixed inputs (pure).</summary>
    public static string Key(string nvrtcVersion, CompileTarget target, IReadOnlyList<string> options, string fileName, string source,
        IReadOnlyDictionary<string, string> headers)
    {
        var text = new StringBuilder();
        void Part(string s) => text.Append(s.Length).Append(':').Append(s).Append('\n');
        Part("actors-kernel-cache-v1");
        Part(nvrtcVersion);
        Part(target.Architecture);
        Part(target.IsCubin ? "cubin" : "ptx");
        foreach (string o in options) Part(o);
        Part(fileName);
        Part(source);
        foreach (var (name, body) in headers.OrderBy(h => h.Key, StringComparer.Ordinal))
        {
            Part(name);
            Part(body);
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    public string PathOf(string key, CompileTarget target) => Path.Combine(Directory, key + (target.IsCubin ? ".cubin" : ".ptx"));

    public byte[]? TryRead(string key, CompileTarget target)
    {
        string path = PathOf(key, target);
        try
        {
            return File.Exists(path) ? File.ReadAllBytes(path) : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>Stores an image; a cache that cannot be written (read-only home, full disk) is skipped silently.</summary>
    public void Write(string key, CompileTarget target, byte[] image)
    {
        string path = PathOf(key, target);
        string temp = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            System.IO.Directory.CreateDirectory(Directory);
            File.WriteAllBytes(temp, image);
            File.Move(temp, path, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
