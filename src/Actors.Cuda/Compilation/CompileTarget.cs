namespace Actors.Cuda.Compilation;

/// <summary>
/// What NVRTC is asked to produce for a device: a CUBIN for a real architecture (`sm_86`), or PTX for
/// a virtual one (`compute_90`) that the driver JIT-compiles when NVRTC is too old for the device.
/// </summary>
public sealed record CompileTarget(string Architecture, int Sm, bool IsCubin)
{
    public static CompileTarget Cubin(int sm) => new($"sm_{sm}", sm, true);
    public static CompileTarget Ptx(int sm) => new($"compute_{sm}", sm, false);
    public override string ToString() => Architecture;
}

/// <summary>Chooses the compile target for a device's compute capability (pure).</summary>
public static class ArchSelection
{
    /// <summary>Oldest compute capability the kernels are written for (Volta, 7.0).</summary>
    public const int MinimumSm = 70;

    /// <summary>
    /// The device's own `sm_XY` when NVRTC supports it; else the newest supported `sm_XZ` of the same
    /// major with Z &lt; Y (a CUBIN runs on later minors of its major, e.g. sm_86 on 8.9); else PTX for
    /// the newest supported `compute_XY` below the device (the driver JITs it forward, e.g. to sm_100).
    /// An empty <paramref name="supported"/> (NVRTC older than 11.2 cannot list them) means "assume
    /// the device's own". Throws <see cref="NotSupportedException"/> naming the capability when the
    /// device is older than <see cref="MinimumSm"/> or NVRTC only knows newer architectures.
    /// </summary>
    public static CompileTarget Select(int major, int minor, IReadOnlyList<int> supported, string nvrtcVersion = "?")
    {
        if (major <= 0 || minor < 0 || minor > 9)
            throw new ArgumentOutOfRangeException(nameof(major), $"compute capability {major}.{minor} is not valid");
        int cc = major * 10 + minor;
        if (cc < MinimumSm)
            throw new NotSupportedException(
                $"compute capability {major}.{minor} (sm_{cc}) is not supported: the CUDA kernels need {MinimumSm / 10}.{MinimumSm % 10} or newer");
        if (supported.Count == 0 || supported.Contains(cc)) return CompileTarget.Cubin(cc);
        int sameMajor = supported.Where(a => a / 10 == major && a < cc).DefaultIfEmpty(0).Max();
        if (sameMajor > 0) return CompileTarget.Cubin(sameMajor);
        int below = supported.Where(a => a < cc).DefaultIfEmpty(0).Max();
        if (below >= MinimumSm) return CompileTarget.Ptx(below);
        throw new NotSupportedException(
            $"compute capability {major}.{minor} (sm_{cc}) cannot be targeted by NVRTC {nvrtcVersion}, which supports {string.Join(", ", supported.Select(a => "sm_" + a))}");
    }
}

/// <summary>The NVRTC command line of every kernel compile (pure).</summary>
public static class NvrtcOptions
{
    /// <summary>
    /// `-default-device` (helpers need no __device__), `--std=c++17` (NVRTC 11.8 defaults to C++98,
    /// where static_assert does not parse) and the architecture.
    /// </summary>
    public static IReadOnlyList<string> Build(CompileTarget target) =>
        ["-default-device", "--std=c++17", $"--gpu-architecture={target.Architecture}"];
}
