using System.Runtime.InteropServices;

namespace Actors.Interop.Cuda;

/// <summary>nvmlPciInfo_t (x64, 68 bytes): busIdLegacy[16] @0, domain @16, bus @20, device @24, pciDeviceId @28, pciSubSystemId @32, busId[32] @36.</summary>
[StructLayout(LayoutKind.Sequential)]
public unsafe struct NvmlPciInfo
{
    public fixed byte BusIdLegacy[16];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;
    public fixed byte BusId[32];

    public string BusIdText
    {
        get
        {
            fixed (byte* p = BusId)
            {
                var text = new ReadOnlySpan<byte>(p, 32);
                int end = text.IndexOf((byte)0);
                return System.Text.Encoding.ASCII.GetString(end < 0 ? text : text[..end]);
            }
        }
    }
}

/// <summary>PCI location of a device, as both CUDA (attributes 50/33/34) and NVML report it.</summary>
public readonly record struct PciAddress(int Domain, int Bus, int Device)
{
    public override string ToString() => $"{Domain:X8}:{Bus:X2}:{Device:X2}.0";
}

/// <summary>nvmlGpuP2PCapsIndex_t.</summary>
public enum NvmlP2PCaps
{
    Read = 0,
    Write = 1,
    NvLink = 2,
    Atomics = 3,
    Prop = 4,
}

/// <summary>nvmlGpuP2PStatus_t.</summary>
public enum NvmlP2PStatus
{
    Ok = 0,
    ChipsetNotSupported = 1,
    GpuNotSupported = 2,
    IohTopologyNotSupported = 3,
    DisabledByRegkey = 4,
    NotSupported = 5,
    Unknown = 6,
}

/// <summary>nvmlGpuTopologyLevel_t (deliberately spaced values).</summary>
public enum NvmlTopologyLevel
{
    Internal = 0,
    Single = 10,
    Multiple = 20,
    HostBridge = 30,
    Node = 40,
    System = 50,
}

/// <summary>nvmlIntNvLinkDeviceType_t.</summary>
public enum NvmlNvLinkDeviceType
{
    Gpu = 0,
    IbmNpu = 1,
    Switch = 2,
    Unknown = 255,
}

/// <summary>One active NVLink of a device and what is at its other end.</summary>
public sealed record NvmlNvLink(int Link, NvmlNvLinkDeviceType RemoteType, PciAddress? Remote);

/// <summary>
/// NVML (libnvidia-ml.so.1), bound at run time, for topology only: device handles and PCI ids,
/// NVLink state and remote ends, pairwise P2P status and PCIe common ancestor. The `_v2`/`_v3`
/// exports are bound by exact name. A missing library or nvmlInit_v2 failure (9, driver not loaded)
/// makes <see cref="TryOpen"/> return false with the reason.
/// </summary>
public sealed unsafe class Nvml : IDisposable
{
    public const int MaxLinks = 18;
    public static string DefaultLibraryName => OperatingSystem.IsWindows() ? "nvml.dll" : "libnvidia-ml.so.1";

    private readonly delegate* unmanaged<int> _init;
    private readonly delegate* unmanaged<int> _shutdown;
    private readonly delegate* unmanaged<int, byte*> _errorString;
    private readonly delegate* unmanaged<uint*, int> _deviceGetCount;
    private readonly delegate* unmanaged<uint, IntPtr*, int> _deviceGetHandleByIndex;
    private readonly delegate* unmanaged<IntPtr, NvmlPciInfo*, int> _deviceGetPciInfo;
    private readonly delegate* unmanaged<IntPtr, uint, int*, int> _getNvLinkState;
    private readonly delegate* unmanaged<IntPtr, uint, NvmlPciInfo*, int> _getNvLinkRemotePciInfo;
    private readonly delegate* unmanaged<IntPtr, uint, int*, int> _getNvLinkRemoteDeviceType;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int, int*, int> _getP2PStatus;
    private readonly delegate* unmanaged<IntPtr, IntPtr, int*, int> _getTopologyCommonAncestor;
    private bool _open;

    public string LibraryName { get; }

    private Nvml(NativeLibraryLoader lib)
    {
        LibraryName = lib.Name;
        _init = (delegate* unmanaged<int>)lib.Export("nvmlInit_v2");
        _shutdown = (delegate* unmanaged<int>)lib.Export("nvmlShutdown");
        _errorString = (delegate* unmanaged<int, byte*>)lib.Export("nvmlErrorString");
        _deviceGetCount = (delegate* unmanaged<uint*, int>)lib.Export("nvmlDeviceGetCount_v2");
        _deviceGetHandleByIndex = (delegate* unmanaged<uint, IntPtr*, int>)lib.Export("nvmlDeviceGetHandleByIndex_v2");
        _deviceGetPciInfo = (delegate* unmanaged<IntPtr, NvmlPciInfo*, int>)lib.Export("nvmlDeviceGetPciInfo_v3");
        _getNvLinkState = (delegate* unmanaged<IntPtr, uint, int*, int>)lib.Export("nvmlDeviceGetNvLinkState");
        _getNvLinkRemotePciInfo = (delegate* unmanaged<IntPtr, uint, NvmlPciInfo*, int>)lib.Export("nvmlDeviceGetNvLinkRemotePciInfo_v2");
        _getNvLinkRemoteDeviceType = (delegate* unmanaged<IntPtr, uint, int*, int>)lib.OptionalExport("nvmlDeviceGetNvLinkRemoteDeviceType");
        _getP2PStatus = (delegate* unmanaged<IntPtr, IntPtr, int, int*, int>)lib.Export("nvmlDeviceGetP2PStatus");
        _getTopologyCommonAncestor = (delegate* unmanaged<IntPtr, IntPtr, int*, int>)lib.OptionalExport("nvmlDeviceGetTopologyCommonAncestor");
    }

    /// <summary>Loads and initialises NVML; false with a reason ("… could not be loaded", "nvmlInit_v2 failed: …").</summary>
    public static bool TryOpen(out Nvml? nvml, out string error, string? libraryName = null)
    {
        nvml = null;
        if (!NativeLibraryLoader.TryLoad([libraryName ?? DefaultLibraryName], out var lib, out error)) return false;
        try
        {
            var n = new Nvml(lib!);
            int r = n._init();
            if (r != 0)
            {
                error = n.Error("nvmlInit_v2", r).Message;
                return false;
            }
            n._open = true;
            nvml = n;
            return true;
        }
        catch (CudaException e)
        {
            error = e.Message;
            return false;
        }
    }

    private CudaException Error(string call, int code, string? context = null) =>
        new(CudaApi.Nvml, call, code, CudaStatusNames.Name(CudaApi.Nvml, code), NativeLibraryLoader.ReadString(_errorString(code)), context: context);

    private void Check(int code, string call, string? context = null)
    {
        if (code != 0) throw Error(call, code, context);
    }

    public int DeviceCount()
    {
        uint n;
        Check(_deviceGetCount(&n), "nvmlDeviceGetCount_v2");
        return (int)n;
    }

    public IntPtr DeviceHandle(int index)
    {
        IntPtr h;
        Check(_deviceGetHandleByIndex((uint)index, &h), "nvmlDeviceGetHandleByIndex_v2", $"index {index}");
        return h;
    }

    public NvmlPciInfo PciInfo(IntPtr device)
    {
        NvmlPciInfo info;
        Check(_deviceGetPciInfo(device, &info), "nvmlDeviceGetPciInfo_v3");
        return info;
    }

    public PciAddress PciAddress(IntPtr device)
    {
        var info = PciInfo(device);
        return new PciAddress((int)info.Domain, (int)info.Bus, (int)info.Device);
    }

    /// <summary>The active NVLinks of a device (links it lacks answer INVALID_ARGUMENT/NOT_SUPPORTED and are skipped).</summary>
    public IReadOnlyList<NvmlNvLink> ActiveNvLinks(IntPtr device)
    {
        var links = new List<NvmlNvLink>();
        for (uint link = 0; link < MaxLinks; link++)
        {
            int active;
            if (_getNvLinkState(device, link, &active) != 0 || active == 0) continue;
            int type = (int)NvmlNvLinkDeviceType.Unknown;
            if (_getNvLinkRemoteDeviceType != null && _getNvLinkRemoteDeviceType(device, link, &type) != 0)
                type = (int)NvmlNvLinkDeviceType.Unknown;
            NvmlPciInfo remote;
            PciAddress? address = _getNvLinkRemotePciInfo(device, link, &remote) == 0
                ? new PciAddress((int)remote.Domain, (int)remote.Bus, (int)remote.Device)
                : null;
            links.Add(new NvmlNvLink((int)link, (NvmlNvLinkDeviceType)type, address));
        }
        return links;
    }

    /// <summary>nvmlDeviceGetP2PStatus; null when NVML cannot say.</summary>
    public NvmlP2PStatus? P2PStatus(IntPtr a, IntPtr b, NvmlP2PCaps caps)
    {
        int status;
        return _getP2PStatus(a, b, (int)caps, &status) == 0 ? (NvmlP2PStatus)status : null;
    }

    /// <summary>nvmlDeviceGetTopologyCommonAncestor (Linux only); null when unavailable.</summary>
    public NvmlTopologyLevel? CommonAncestor(IntPtr a, IntPtr b)
    {
        if (_getTopologyCommonAncestor == null) return null;
        int level;
        return _getTopologyCommonAncestor(a, b, &level) == 0 ? (NvmlTopologyLevel)level : null;
    }

    public void Dispose()
    {
        if (!_open) return;
        _open = false;
        _shutdown();
    }
}
