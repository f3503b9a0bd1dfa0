namespace Actors.Interop.Cuda;

/// <summary>
/// The CUDA driver API (libcuda.so.1), bound at run time by exact export name. The `_v2` names are
/// bound where cuda.h maps the plain name to them: the plain exports are the CUDA 3.x ABI with
/// 32-bit sizes. Every method checks the CUresult and throws a <see cref="CudaException"/> that names
/// the call, e.g. "cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2): out of memory".
/// Obtain the process-wide instance through <see cref="Shared"/> (which probes first) or
/// <see cref="CudaAvailability.Probe()"/>.
/// </summary>
public sealed unsafe class CudaDriver
{
    public static string DefaultLibraryName => OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";

    // Attribute ids (CUdevice_attribute), stable ABI values from cuda.h.
    public const int AttrMaxThreadsPerBlock = 1, AttrMaxSharedMemoryPerBlock = 8, AttrWarpSize = 10, AttrClockRate = 13,
        AttrMultiprocessorCount = 16, AttrPciBusId = 33, AttrPciDeviceId = 34, AttrMemoryClockRate = 36,
        AttrGlobalMemoryBusWidth = 37, AttrL2CacheSize = 38, AttrAsyncEngineCount = 40, AttrUnifiedAddressing = 41,
        AttrPciDomainId = 50, AttrComputeCapabilityMajor = 75, AttrComputeCapabilityMinor = 76,
        AttrMaxSharedMemoryPerBlockOptin = 97;

    public const uint MemHostAllocPortable = 0x01;
    public const uint StreamNonBlocking = 0x01;
    public const uint EventDefault = 0x00, EventDisableTiming = 0x02;
    public const int FuncAttributeMaxDynamicSharedSizeBytes = 8;
    public const int ErrorPeerAccessAlreadyEnabled = 704;

    private readonly NativeLibraryLoader _lib;

    private readonly delegate* unmanaged<uint, int> _init;
    private readonly delegate* unmanaged<int*, int> _driverGetVersion;
    private readonly delegate* unmanaged<int*, int> _deviceGetCount;
    private readonly delegate* unmanaged<int*, int, int> _deviceGet;
    private readonly delegate* unmanaged<int*, int, int, int> _deviceGetAttribute;
    private readonly delegate* unmanaged<byte*, int, int, int> _deviceGetName;
    private readonly delegate* unmanaged<nuint*, int, int> _deviceTotalMem;
    private readonly delegate* unmanaged<byte*, int, int, int> _deviceGetPciBusId;
    private readonly delegate* unmanaged<IntPtr*, int, int> _primaryCtxRetain;
    private readonly delegate* unmanaged<int, int> _primaryCtxRelease;
    private readonly delegate* unmanaged<IntPtr, int> _ctxSetCurrent;
    private readonly delegate* unmanaged<IntPtr*, int> _ctxGetCurrent;
    private readonly delegate* unmanaged<int> _ctxSynchronize;
    private readonly delegate* unmanaged<IntPtr, uint, int> _ctxEnablePeerAccess;
    private readonly delegate* unmanaged<int*, int, int, int> _deviceCanAccessPeer;
    private readonly delegate* unmanaged<nuint*, nuint*, int> _memGetInfo;
    private readonly delegate* unmanaged<ulong*, nuint, int> _memAlloc;
    private readonly delegate* unmanaged<ulong, int> _memFree;
    private readonly delegate* unmanaged<void**, nuint, uint, int> _memHostAlloc;
    private readonly delegate* unmanaged<void*, int> _memFreeHost;
    private readonly delegate* unmanaged<ulong, void*, nuint, IntPtr, int> _memcpyHtoDAsync;
    private readonly delegate* unmanaged<void*, ulong, nuint, IntPtr, int> _memcpyDtoHAsync;
    private readonly delegate* unmanaged<ulong, ulong, nuint, IntPtr, int> _memcpyDtoDAsync;
    private readonly delegate* unmanaged<ulong, IntPtr, ulong, IntPtr, nuint, IntPtr, int> _memcpyPeerAsync;
    private readonly delegate* unmanaged<ulong, byte, nuint, IntPtr, int> _memsetD8Async;
    private readonly delegate* unmanaged<IntPtr*, void*, uint, int*, void**, int> _moduleLoadDataEx;
    private readonly delegate* unmanaged<IntPtr*, IntPtr, byte*, int> _moduleGetFunction;
    private readonly delegate* unmanaged<IntPtr, int> _moduleUnload;
    private readonly delegate* unmanaged<IntPtr, int, int, int> _funcSetAttribute;
    private readonly delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int> _launchKernel;
    private readonly delegate* unmanaged<IntPtr*, uint, int> _streamCreate;
    private readonly delegate* unmanaged<IntPtr, int> _streamSynchronize;
    private readonly delegate* unmanaged<IntPtr, IntPtr, uint, int> _streamWaitEvent;
    private readonly delegate* unmanaged<IntPtr, int> _streamDestroy;
    private readonly delegate* unmanaged<IntPtr*, uint, int> _eventCreate;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int> _eventRecord;
    private readonly delegate* unmanaged<IntPtr, int> _eventSynchronize;
    private readonly delegate* unmanaged<float*, IntPtr, IntPtr, int> _eventElapsedTime;
    private readonly string _eventElapsedTimeName;
    private readonly delegate* unmanaged<IntPtr, int> _eventDestroy;
    private readonly delegate* unmanaged<int, byte**, int> _getErrorName;
    private readonly delegate* unmanaged<int, byte**, int> _getErrorString;

    public string LibraryName => _lib.Name;

    private CudaDriver(NativeLibraryLoader lib)
    {
        _lib = lib;
        _init = (delegate* unmanaged<uint, int>)lib.Export("cuInit");
        _driverGetVersion = (delegate* unmanaged<int*, int>)lib.Export("cuDriverGetVersion");
        _deviceGetCount = (delegate* unmanaged<int*, int>)lib.Export("cuDeviceGetCount");
        _deviceGet = (delegate* unmanaged<int*, int, int>)lib.Export("cuDeviceGet");
        _deviceGetAttribute = (delegate* unmanaged<int*, int, int, int>)lib.Export("cuDeviceGetAttribute");
        _deviceGetName = (delegate* unmanaged<byte*, int, int, int>)lib.Export("cuDeviceGetName");
        _deviceTotalMem = (delegate* unmanaged<nuint*, int, int>)lib.Export("cuDeviceTotalMem_v2");
        _deviceGetPciBusId = (delegate* unmanaged<byte*, int, int, int>)lib.Export("cuDeviceGetPCIBusId");
        _primaryCtxRetain = (delegate* unmanaged<IntPtr*, int, int>)lib.Export("cuDevicePrimaryCtxRetain");
        _primaryCtxRelease = (delegate* unmanaged<int, int>)lib.Export("cuDevicePrimaryCtxRelease_v2");
        _ctxSetCurrent = (delegate* unmanaged<IntPtr, int>)lib.Export("cuCtxSetCurrent");
        _ctxGetCurrent = (delegate* unmanaged<IntPtr*, int>)lib.Export("cuCtxGetCurrent");
        _ctxSynchronize = (delegate* unmanaged<int>)lib.Export("cuCtxSynchronize");
        _ctxEnablePeerAccess = (delegate* unmanaged<IntPtr, uint, int>)lib.Export("cuCtxEnablePeerAccess");
        _deviceCanAccessPeer = (delegate* unmanaged<int*, int, int, int>)lib.Export("cuDeviceCanAccessPeer");
        _memGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)lib.Export("cuMemGetInfo_v2");
        _memAlloc = (delegate* unmanaged<ulong*, nuint, int>)lib.Export("cuMemAlloc_v2");
        _memFree = (delegate* unmanaged<ulong, int>)lib.Export("cuMemFree_v2");
        _memHostAlloc = (delegate* unmanaged<void**, nuint, uint, int>)lib.Export("cuMemHostAlloc");
        _memFreeHost = (delegate* unmanaged<void*, int>)lib.Export("cuMemFreeHost");
        _memcpyHtoDAsync = (delegate* unmanaged<ulong, void*, nuint, IntPtr, int>)lib.Export("cuMemcpyHtoDAsync_v2");
        _memcpyDtoHAsync = (delegate* unmanaged<void*, ulong, nuint, IntPtr, int>)lib.Export("cuMemcpyDtoHAsync_v2");
        _memcpyDtoDAsync = (delegate* unmanaged<ulong, ulong, nuint, IntPtr, int>)lib.Export("cuMemcpyDtoDAsync_v2");
        _memcpyPeerAsync = (delegate* unmanaged<ulong, IntPtr, ulong, IntPtr, nuint, IntPtr, int>)lib.Export("cuMemcpyPeerAsync");
        _memsetD8Async = (delegate* unmanaged<ulong, byte, nuint, IntPtr, int>)lib.Export("cuMemsetD8Async");
        _moduleLoadDataEx = (delegate* unmanaged<IntPtr*, void*, uint, int*, void**, int>)lib.Export("cuModuleLoadDataEx");
        _moduleGetFunction = (delegate* unmanaged<IntPtr*, IntPtr, byte*, int>)lib.Export("cuModuleGetFunction");
        _moduleUnload = (delegate* unmanaged<IntPtr, int>)lib.Export("cuModuleUnload");
        _funcSetAttribute = (delegate* unmanaged<IntPtr, int, int, int>)lib.Export("cuFuncSetAttribute");
        _launchKernel = (delegate* unmanaged<IntPtr, uint, uint, uint, uint, uint, uint, uint, IntPtr, void**, void**, int>)lib.Export("cuLaunchKernel");
        _streamCreate = (delegate* unmanaged<IntPtr*, uint, int>)lib.Export("cuStreamCreate");
        _streamSynchronize = (delegate* unmanaged<IntPtr, int>)lib.Export("cuStreamSynchronize");
        _streamWaitEvent = (delegate* unmanaged<IntPtr, IntPtr, uint, int>)lib.Export("cuStreamWaitEvent");
        _streamDestroy = (delegate* unmanaged<IntPtr, int>)lib.Export("cuStreamDestroy_v2");
        _eventCreate = (delegate* unmanaged<IntPtr*, uint, int>)lib.Export("cuEventCreate");
        _eventRecord = (delegate* unmanaged<IntPtr, IntPtr, int>)lib.Export("cuEventRecord");
        _eventSynchronize = (delegate* unmanaged<IntPtr, int>)lib.Export("cuEventSynchronize");
        // Drivers before 12.8 export only the plain name (driver 535 has no _v2).
        IntPtr elapsed = lib.OptionalExport("cuEventElapsedTime_v2");
        _eventElapsedTimeName = elapsed != IntPtr.Zero ? "cuEventElapsedTime_v2" : "cuEventElapsedTime";
        _eventElapsedTime = (delegate* unmanaged<float*, IntPtr, IntPtr, int>)(elapsed != IntPtr.Zero ? elapsed : lib.Export("cuEventElapsedTime"));
        _eventDestroy = (delegate* unmanaged<IntPtr, int>)lib.Export("cuEventDestroy_v2");
        _getErrorName = (delegate* unmanaged<int, byte**, int>)lib.Export("cuGetErrorName");
        _getErrorString = (delegate* unmanaged<int, byte**, int>)lib.Export("cuGetErrorString");
    }

    /// <summary>Loads and binds the library; false with a reason when it or one of its exports is missing.</summary>
    internal static bool TryLoad(string libraryName, out CudaDriver? driver, out string error)
    {
        driver = null;
        if (!NativeLibraryLoader.TryLoad([libraryName], out var lib, out error)) return false;
        try
        {
            driver = new CudaDriver(lib!);
            return true;
        }
        catch (CudaException e)
        {
            error = e.Message;
            return false;
        }
    }

    /// <summary>The probed process-wide driver; throws "no CUDA device: …" when there is none.</summary>
    public static CudaDriver Shared => CudaAvailability.Probe().Driver
        ?? throw new CudaException(CudaAvailability.Probe().Message);

    // ---- status handling ----------------------------------------------------------------------

    public string ErrorName(int code)
    {
        byte* text = null;
        return _getErrorName(code, &text) == 0 && text != null
            ? NativeLibraryLoader.ReadString(text)!
            : CudaStatusNames.Name(CudaApi.Driver, code);
    }

    public string? ErrorDescription(int code)
    {
        byte* text = null;
        return _getErrorString(code, &text) == 0 && text != null ? NativeLibraryLoader.ReadString(text) : null;
    }

    public CudaException Error(string call, int code, string? context = null) =>
        new(CudaApi.Driver, call, code, ErrorName(code), ErrorDescription(code), context: context);

    public void Check(int code, string call, string? context = null)
    {
        if (code != 0) throw Error(call, code, context);
    }

    // ---- probing (raw status, no exceptions) --------------------------------------------------

    internal int RawDriverGetVersion(out int version)
    {
        int v = 0;
        int r = _driverGetVersion(&v);
        version = v;
        return r;
    }

    internal int RawInit() => _init(0);

    internal int RawDeviceGetCount(out int count)
    {
        int c = 0;
        int r = _deviceGetCount(&c);
        count = c;
        return r;
    }

    // ---- devices ------------------------------------------------------------------------------

    public int DeviceGetCount()
    {
        int c;
        Check(_deviceGetCount(&c), "cuDeviceGetCount");
        return c;
    }

    public int DeviceGet(int ordinal)
    {
        int d;
        Check(_deviceGet(&d, ordinal), "cuDeviceGet", $"ordinal {ordinal}");
        return d;
    }

    public int DeviceGetAttribute(int attribute, int device)
    {
        int v;
        Check(_deviceGetAttribute(&v, attribute, device), "cuDeviceGetAttribute", $"attribute {attribute}, device {device}");
        return v;
    }

    public string DeviceGetName(int device)
    {
        byte* buffer = stackalloc byte[256];
        Check(_deviceGetName(buffer, 256, device), "cuDeviceGetName");
        return NativeLibraryLoader.ReadString(buffer) ?? "";
    }

    public long DeviceTotalMem(int device)
    {
        nuint bytes;
        Check(_deviceTotalMem(&bytes, device), "cuDeviceTotalMem_v2");
        return (long)bytes;
    }

    public string DeviceGetPciBusId(int device)
    {
        byte* buffer = stackalloc byte[64];
        Check(_deviceGetPciBusId(buffer, 64, device), "cuDeviceGetPCIBusId");
        return NativeLibraryLoader.ReadString(buffer) ?? "";
    }

    public bool DeviceCanAccessPeer(int device, int peer)
    {
        int can;
        Check(_deviceCanAccessPeer(&can, device, peer), "cuDeviceCanAccessPeer", $"device {device} -> {peer}");
        return can != 0;
    }

    /// <summary>Everything the backend and the topology report want to know about one device.</summary>
    public CudaDeviceInfo GetDeviceInfo(int ordinal)
    {
        int dev = DeviceGet(ordinal);
        int Attr(int a) => DeviceGetAttribute(a, dev);
        return new CudaDeviceInfo(
            Ordinal: ordinal,
            Name: DeviceGetName(dev),
            TotalMemoryBytes: DeviceTotalMem(dev),
            ComputeMajor: Attr(AttrComputeCapabilityMajor),
            ComputeMinor: Attr(AttrComputeCapabilityMinor),
            PciDomain: Attr(AttrPciDomainId),
            PciBus: Attr(AttrPciBusId),
            PciDevice: Attr(AttrPciDeviceId),
            PciBusId: DeviceGetPciBusId(dev),
            MultiprocessorCount: Attr(AttrMultiprocessorCount),
            MemoryClockKHz: Attr(AttrMemoryClockRate),
            MemoryBusWidthBits: Attr(AttrGlobalMemoryBusWidth),
            MaxSharedMemoryPerBlock: Attr(AttrMaxSharedMemoryPerBlock),
            MaxSharedMemoryPerBlockOptin: Attr(AttrMaxSharedMemoryPerBlockOptin),
            AsyncEngineCount: Attr(AttrAsyncEngineCount));
    }

    // ---- contexts -----------------------------------------------------------------------------

    public IntPtr PrimaryCtxRetain(int device)
    {
        IntPtr ctx;
        Check(_primaryCtxRetain(&ctx, device), "cuDevicePrimaryCtxRetain", $"device {device}");
        return ctx;
    }

    public void PrimaryCtxRelease(int device) => Check(_primaryCtxRelease(device), "cuDevicePrimaryCtxRelease_v2", $"device {device}");

    public void CtxSetCurrent(IntPtr ctx) => Check(_ctxSetCurrent(ctx), "cuCtxSetCurrent");

    public IntPtr CtxGetCurrent()
    {
        IntPtr ctx;
        Check(_ctxGetCurrent(&ctx), "cuCtxGetCurrent");
        return ctx;
    }

    public void CtxSynchronize() => Check(_ctxSynchronize(), "cuCtxSynchronize");

    /// <summary>Enables access from the current context to <paramref name="peerCtx"/>; true if newly enabled or already on.</summary>
    public void CtxEnablePeerAccess(IntPtr peerCtx)
    {
        int r = _ctxEnablePeerAccess(peerCtx, 0);
        if (r != 0 && r != ErrorPeerAccessAlreadyEnabled) throw Error("cuCtxEnablePeerAccess", r);
    }

    // ---- memory -------------------------------------------------------------------------------

    public (long Free, long Total) MemGetInfo()
    {
        nuint free, total;
        Check(_memGetInfo(&free, &total), "cuMemGetInfo_v2");
        return ((long)free, (long)total);
    }

    public ulong MemAlloc(long bytes)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), $"device allocation of {bytes} bytes");
        ulong ptr;
        int r = _memAlloc(&ptr, (nuint)bytes);
        if (r != 0) throw Error("cuMemAlloc_v2", r, $"{bytes:N0} bytes");
        return ptr;
    }

    public void MemFree(ulong ptr) => Check(_memFree(ptr), "cuMemFree_v2");

    public void* MemHostAlloc(long bytes, uint flags)
    {
        if (bytes <= 0) throw new ArgumentOutOfRangeException(nameof(bytes), $"pinned allocation of {bytes} bytes");
        void* p;
        int r = _memHostAlloc(&p, (nuint)bytes, flags);
        if (r != 0) throw Error("cuMemHostAlloc", r, $"{bytes:N0} bytes");
        return p;
    }

    public void MemFreeHost(void* p) => Check(_memFreeHost(p), "cuMemFreeHost");

    public void MemcpyHtoDAsync(ulong dst, void* src, long bytes, IntPtr stream) =>
        Check(_memcpyHtoDAsync(dst, src, (nuint)bytes, stream), "cuMemcpyHtoDAsync_v2", $"{bytes:N0} bytes");

    public void MemcpyDtoHAsync(void* dst, ulong src, long bytes, IntPtr stream) =>
        Check(_memcpyDtoHAsync(dst, src, (nuint)bytes, stream), "cuMemcpyDtoHAsync_v2", $"{bytes:N0} bytes");

    public void MemcpyDtoDAsync(ulong dst, ulong src, long bytes, IntPtr stream) =>
        Check(_memcpyDtoDAsync(dst, src, (nuint)bytes, stream), "cuMemcpyDtoDAsync_v2", $"{bytes:N0} bytes");

    public void MemcpyPeerAsync(ulong dst, IntPtr dstCtx, ulong src, IntPtr srcCtx, long bytes, IntPtr stream) =>
        Check(_memcpyPeerAsync(dst, dstCtx, src, srcCtx, (nuint)bytes, stream), "cuMemcpyPeerAsync", $"{bytes:N0} bytes");

    public void MemsetD8Async(ulong dst, byte value, long count, IntPtr stream) =>
        Check(_memsetD8Async(dst, value, (nuint)count, stream), "cuMemsetD8Async", $"{count:N0} bytes");

    // ---- modules and launches -----------------------------------------------------------------

    /// <summary>Loads a CUBIN, fatbin or NUL-terminated PTX image; a failure carries the JIT's error log.</summary>
    public IntPtr ModuleLoadData(ReadOnlySpan<byte> image, string what)
    {
        const int errorLogBuffer = 5, errorLogBufferSize = 6;
        const int logBytes = 8192;
        byte[] log = new byte[logBytes];
        IntPtr module;
        int r;
        fixed (byte* img = image)
        fixed (byte* logPtr = log)
        {
            int* options = stackalloc int[2] { errorLogBuffer, errorLogBufferSize };
            void** values = stackalloc void*[2] { logPtr, (void*)(nuint)logBytes };
            r = _moduleLoadDataEx(&module, img, 2, options, values);
        }
        if (r != 0)
        {
            int end = Array.IndexOf(log, (byte)0);
            string text = System.Text.Encoding.UTF8.GetString(log, 0, end < 0 ? log.Length : end);
            throw new CudaException(CudaApi.Driver, "cuModuleLoadDataEx", r, ErrorName(r), ErrorDescription(r), text, what);
        }
        return module;
    }

    public IntPtr ModuleGetFunction(IntPtr module, string name)
    {
        byte[] bytes = System.Text.Encoding.ASCII.GetBytes(name + "\0");
        IntPtr f;
        fixed (byte* p = bytes) Check(_moduleGetFunction(&f, module, p), "cuModuleGetFunction", name);
        return f;
    }

    public void ModuleUnload(IntPtr module) => Check(_moduleUnload(module), "cuModuleUnload");

    public void FuncSetAttribute(IntPtr function, int attribute, int value, string name) =>
        Check(_funcSetAttribute(function, attribute, value), "cuFuncSetAttribute", $"{name} attribute {attribute} = {value}");

    public void LaunchKernel(IntPtr function, in LaunchConfig config, IntPtr stream, void** args, string name)
    {
        int r = _launchKernel(function, config.Grid.X, config.Grid.Y, config.Grid.Z, config.Block.X, config.Block.Y, config.Block.Z,
            config.SharedBytes, stream, args, null);
        if (r != 0) throw Error("cuLaunchKernel", r, $"{name} {config}");
    }

    // ---- streams and events -------------------------------------------------------------------

    public IntPtr StreamCreate(uint flags)
    {
        IntPtr s;
        Check(_streamCreate(&s, flags), "cuStreamCreate");
        return s;
    }

    public void StreamSynchronize(IntPtr stream) => Check(_streamSynchronize(stream), "cuStreamSynchronize");
    public void StreamWaitEvent(IntPtr stream, IntPtr ev) => Check(_streamWaitEvent(stream, ev, 0), "cuStreamWaitEvent");
    public void StreamDestroy(IntPtr stream) => Check(_streamDestroy(stream), "cuStreamDestroy_v2");

    public IntPtr EventCreate(uint flags)
    {
        IntPtr e;
        Check(_eventCreate(&e, flags), "cuEventCreate");
        return e;
    }

    public void EventRecord(IntPtr ev, IntPtr stream) => Check(_eventRecord(ev, stream), "cuEventRecord");
    public void EventSynchronize(IntPtr ev) => Check(_eventSynchronize(ev), "cuEventSynchronize");

    public float EventElapsedTime(IntPtr start, IntPtr end)
    {
        float ms;
        Check(_eventElapsedTime(&ms, start, end), _eventElapsedTimeName);
        return ms;
    }

    public void EventDestroy(IntPtr ev) => Check(_eventDestroy(ev), "cuEventDestroy_v2");
}

/// <summary>Static facts about one CUDA device (cuDeviceGet* and cuDeviceGetAttribute).</summary>
public sealed record CudaDeviceInfo(
    int Ordinal,
    string Name,
    long TotalMemoryBytes,
    int ComputeMajor,
    int ComputeMinor,
    int PciDomain,
    int PciBus,
    int PciDevice,
    string PciBusId,
    int MultiprocessorCount,
    int MemoryClockKHz,
    int MemoryBusWidthBits,
    int MaxSharedMemoryPerBlock,
    int MaxSharedMemoryPerBlockOptin,
    int AsyncEngineCount)
{
    /// <summary>"8.6".</summary>
    public string ComputeCapability => $"{ComputeMajor}.{ComputeMinor}";

    /// <summary>Peak DRAM bandwidth from the attributes: clock (kHz) × 1000 × 2 (DDR) × bus width / 8.</summary>
    public double PeakMemoryBandwidthBytesPerSecond => MemoryClockKHz * 1000.0 * 2 * MemoryBusWidthBits / 8;
}

/// <summary>x, y, z of a grid or block.</summary>
public readonly record struct Dim3(uint X, uint Y = 1, uint Z = 1)
{
    public override string ToString() => $"({X},{Y},{Z})";
    public ulong Count => (ulong)X * Y * Z;
}

/// <summary>A kernel launch shape: grid, block and dynamic shared memory bytes.</summary>
public readonly record struct LaunchConfig(Dim3 Grid, Dim3 Block, uint SharedBytes = 0)
{
    public override string ToString() => $"grid {Grid} block {Block} smem {SharedBytes}";
}
