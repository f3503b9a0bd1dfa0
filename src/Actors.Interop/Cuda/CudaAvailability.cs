namespace Actors.Interop.Cuda;

/// <summary>
/// Whether this process can use CUDA, and if not, why. The probe runs, in order: load libcuda.so.1,
/// cuDriverGetVersion, cuInit(0), cuDeviceGetCount. Every failure (library missing, a link stub
/// that answers CUDA_ERROR_STUB_LIBRARY (34), no device (100), zero devices) becomes an
/// unavailable result whose <see cref="Message"/> reads "no CUDA device: &lt;reason&gt;"; the probe
/// never throws.
/// </summary>
public sealed record CudaAvailability
{
    public const string NoDevicePrefix = "no CUDA device: ";

    public bool IsAvailable { get; init; }
    /// <summary>Why CUDA cannot be used; empty when available.</summary>
    public string Reason { get; init; } = "";
    /// <summary>cuDriverGetVersion, e.g. 12020 for CUDA 12.2; 0 when unknown.</summary>
    public int DriverVersion { get; init; }
    public int DeviceCount { get; init; }
    public string LibraryName { get; init; } = "";
    /// <summary>The bound driver, when available.</summary>
    public CudaDriver? Driver { get; init; }

    /// <summary>Driver major version (12 for 12020); 0 when unknown.</summary>
    public int DriverMajor => DriverVersion / 1000;

    public string Message => IsAvailable
        ? $"CUDA driver {DriverVersion / 1000}.{DriverVersion % 1000 / 10}, {DeviceCount} device(s) via {LibraryName}"
        : NoDevicePrefix + Reason;

    public override string ToString() => Message;

    private static readonly Lazy<CudaAvailability> Cached = new(() => Probe(CudaDriver.DefaultLibraryName));

    /// <summary>The process-wide probe of the default driver library (run once, then cached).</summary>
    public static CudaAvailability Probe() => Cached.Value;

    /// <summary>Probes a specific driver library (for tests and unusual installs); never throws.</summary>
    public static CudaAvailability Probe(string libraryName)
    {
        try
        {
            return ProbeCore(libraryName);
        }
        catch (Exception e)
        {
            return Unavailable(libraryName, $"probing {libraryName} failed unexpectedly: {e.GetType().Name}: {e.Message}");
        }
    }

    private static CudaAvailability ProbeCore(string libraryName)
    {
        if (!CudaDriver.TryLoad(libraryName, out var driver, out string error))
            return Unavailable(libraryName, $"{error} (no NVIDIA driver installed?)");

        int r = driver!.RawDriverGetVersion(out int version);
        if (r != 0) return Unavailable(libraryName, Describe(driver, "cuDriverGetVersion", r));

        r = driver.RawInit();
        if (r != 0) return Unavailable(libraryName, Describe(driver, "cuInit", r), version);

        r = driver.RawDeviceGetCount(out int count);
        if (r != 0) return Unavailable(libraryName, Describe(driver, "cuDeviceGetCount", r), version);
        if (count <= 0) return Unavailable(libraryName, "cuDeviceGetCount reported 0 devices", version);

        return new CudaAvailability
        {
            IsAvailable = true,
            DriverVersion = version,
            DeviceCount = count,
            LibraryName = libraryName,
            Driver = driver,
        };
    }

    private static string Describe(CudaDriver driver, string call, int code)
    {
        string text = driver.Error(call, code).Message;
        return code == 34
            ? text + $" ({driver.LibraryName} is a link stub, not the driver; remove the toolkit's stubs/ directory from the library path)"
            : text;
    }

    /// <summary>An unavailable result with the given reason (also used by tests and by callers that disable CUDA).</summary>
    public static CudaAvailability Unavailable(string libraryName, string reason, int driverVersion = 0) => new()
    {
        IsAvailable = false,
        Reason = reason,
        DriverVersion = driverVersion,
        LibraryName = libraryName,
    };
}
