using Actors.Interop.Cuda;

namespace Actors.Cuda.Compilation;

/// <summary>
/// Compiles kernels/*.cu with NVRTC for one target and caches the result on disk (see
/// <see cref="CubinCache"/>). A compile error throws a <see cref="CudaException"/> whose message is
/// "nvrtcCompileProgram failed: NVRTC_ERROR_COMPILATION (6) [file options; NVRTC version]" followed by
/// NVRTC's log. Thread-safe: NVRTC programs are independent.
/// </summary>
public sealed class KernelCompiler
{
    public Nvrtc Nvrtc { get; }
    public KernelSources Sources { get; }
    public CubinCache? Cache { get; }

    public KernelCompiler(Nvrtc nvrtc, KernelSources? sources = null, CubinCache? cache = null)
    {
        Nvrtc = nvrtc;
        Sources = sources ?? KernelSources.Embedded;
        Cache = cache;
    }

    /// <summary>The target for a device of compute capability major.minor with this NVRTC.</summary>
    public CompileTarget TargetFor(int major, int minor) => ArchSelection.Select(major, minor, Nvrtc.SupportedArchs, Nvrtc.Version);

    /// <summary>Compiles one file without the cache; returns NVRTC's whole output (CUBIN, PTX, log).</summary>
    public NvrtcOutput CompileFresh(string file, CompileTarget target) =>
        Nvrtc.Compile(Sources[file], file, Sources.Headers, NvrtcOptions.Build(target));

    /// <summary>
    /// The loadable image of one file: a CUBIN (ELF) for `sm_XX`, NUL-terminated PTX for `compute_XX`.
    /// Served from the cache when an intact entry exists.
    /// </summary>
    public byte[] GetImage(string file, CompileTarget target)
    {
        var options = NvrtcOptions.Build(target);
        string source = Sources[file];
        string? key = null;
        try
        {
            if (Cache != null) key = CubinCache.Key(Nvrtc.Version, target, options, file, source, Sources.Headers);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or PlatformNotSupportedException or TypeInitializationException or DllNotFoundException)
        {
            // SHA-256 comes from OpenSSL on Linux; a GPU host without libssl still compiles, uncached.
        }
        if (key != null && Cache!.TryRead(key, target) is { } cached && IsIntact(cached, target)) return cached;

        var output = Nvrtc.Compile(source, file, Sources.Headers, options);
        byte[] image = target.IsCubin ? output.Cubin : output.Ptx;
        if (!IsIntact(image, target))
            throw new CudaException($"NVRTC {Nvrtc.Version} compiled {file} for {target} but returned no usable {(target.IsCubin ? "CUBIN" : "PTX")} ({image.Length} bytes)");
        if (key != null) Cache!.Write(key, target, image);
        return image;
    }

    private static bool IsIntact(byte[] image, CompileTarget target)
    {
        if (image.Length == 0) return false;
        if (!target.IsCubin) return image[^1] == 0;
        try
        {
            CubinInspector.Read(image);
            return true;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }
}
