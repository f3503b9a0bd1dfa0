using System.Diagnostics;
using System.Text;
using Actors.Interop.Cuda;

namespace Actors.Cuda.Topology;

/// <summary>One GPU as discovered: CUDA's view plus the NVML device at the same PCI address.</summary>
public sealed record CudaTopologyDevice(
    int Ordinal,
    string Name,
    long MemoryBytes,
    string ComputeCapability,
    PciAddress Pci,
    int? NvmlIndex,
    IReadOnlyList<NvmlNvLink> NvLinks);

/// <summary>Measured cost of a path: a small ping and a large copy, wall-clock including the synchronisation a real transfer pays.</summary>
public sealed record LinkMeasurement(int PingBytes, double LatencyMicroseconds, long CopyBytes, double BandwidthGBps);

/// <summary>What is known about copying from <see cref="Source"/> to <see cref="Destination"/>.</summary>
public sealed record CudaLink(
    int Source,
    int Destination,
    bool CanAccessPeer,
    bool PeerVerified,
    string? PeerError,
    NvmlP2PStatus? P2PRead,
    NvmlP2PStatus? P2PNvLink,
    NvmlTopologyLevel? CommonAncestor,
    int DirectNvLinks,
    TransferPath Path,
    LinkMeasurement? Measured);

public sealed record CudaTopologyOptions
{
    /// <summary>Time a ping and a large copy per ordered pair (seconds on a 4-GPU box).</summary>
    public bool Measure { get; init; } = true;
    public int PingBytes { get; init; } = 16 << 10;
    public long CopyBytes { get; init; } = 64L << 20;
    public int PingIterations { get; init; } = 20;
    public int CopyIterations { get; init; } = 3;
}

/// <summary>
/// The GPUs of this machine and every ordered pair between them: whether CUDA grants peer access
/// and a real test copy confirms it, what NVML says (P2P status, NVLink, PCIe common ancestor; CUDA
/// ordinals matched to NVML devices by PCI domain/bus/device), the path the transfer layer should
/// use (NVLink &gt; PCIe peer &gt; host-staged) and, optionally, its measured latency and bandwidth.
/// Without a driver the result is empty with <see cref="Reason"/> "no CUDA device: …"; without NVML
/// the NVML columns are null and <see cref="NvmlStatus"/> says why.
/// </summary>
public sealed record CudaTopology(
    IReadOnlyList<CudaTopologyDevice> Devices,
    IReadOnlyList<CudaLink> Links,
    string NvmlStatus,
    string Reason = "")
{
    public bool IsAvailable => Reason.Length == 0;

    public CudaLink? Link(int source, int destination) => Links.FirstOrDefault(l => l.Source == source && l.Destination == destination);

    public static CudaTopology Discover(CudaTopologyOptions? options = null) => Discover(CudaAvailability.Probe(), options);

    public static CudaTopology Discover(CudaAvailability availability, CudaTopologyOptions? options = null)
    {
        options ??= new CudaTopologyOptions();
        if (!availability.IsAvailable) return new CudaTopology([], [], "not queried", availability.Message);
        var driver = availability.Driver!;
        int count = driver.DeviceGetCount();
        var infos = Enumerable.Range(0, count).Select(driver.GetDeviceInfo).ToList();
        var pcis = infos.Select(i => new PciAddress(i.PciDomain, i.PciBus, i.PciDevice)).ToList();

        Nvml? nvml = null;
        string nvmlStatus;
        var handles = new IntPtr?[count];
        var links = new IReadOnlyList<NvmlNvLink>[count];
        for (int i = 0; i < count; i++) links[i] = [];
        try
        {
            if (Nvml.TryOpen(out nvml, out string nvmlError))
            {
                int n = nvml!.DeviceCount();
                var nvmlHandles = Enumerable.Range(0, n).Select(nvml.DeviceHandle).ToList();
                var match = TopologyRules.MatchNvmlToCuda(pcis, nvmlHandles.Select(nvml.PciAddress).ToList());
                for (int i = 0; i < count; i++)
                {
                    if (match[i] is not int m) continue;
                    handles[i] = nvmlHandles[m];
                    links[i] = nvml.ActiveNvLinks(nvmlHandles[m]);
                }
                nvmlStatus = $"NVML ({nvml.LibraryName}): {match.Count(m => m != null)} of {count} CUDA devices matched by PCI address";
                var devices = infos.Select((d, i) => new CudaTopologyDevice(i, d.Name, d.TotalMemoryBytes, d.ComputeCapability, pcis[i], match[i], links[i])).ToList();
                return new CudaTopology(devices, Pairs(driver, infos, pcis, nvml, handles, links, options), nvmlStatus);
            }
            nvmlStatus = "NVML unavailable: " + nvmlError;
            var plain = infos.Select((d, i) => new CudaTopologyDevice(i, d.Name, d.TotalMemoryBytes, d.ComputeCapability, pcis[i], null, [])).ToList();
            return new CudaTopology(plain, Pairs(driver, infos, pcis, null, handles, links, options), nvmlStatus);
        }
        finally
        {
            nvml?.Dispose();
        }
    }

    private static List<CudaLink> Pairs(CudaDriver driver, List<CudaDeviceInfo> infos, List<PciAddress> pcis, Nvml? nvml,
        IntPtr?[] handles, IReadOnlyList<NvmlNvLink>[] links, CudaTopologyOptions options)
    {
        var result = new List<CudaLink>();
        if (infos.Count < 2) return result;
        var contexts = new List<CudaContext>();
        try
        {
            foreach (var info in infos) contexts.Add(CudaContext.RetainPrimary(driver, info.Ordinal));
            for (int a = 0; a < infos.Count; a++)
            {
                for (int b = 0; b < infos.Count; b++)
                {
                    if (a == b) continue;
                    var (ca, cb) = (contexts[a], contexts[b]);
                    bool can = driver.DeviceCanAccessPeer(ca.Device, cb.Device);
                    string? peerError = null;
                    bool verified = false;
                    if (can)
                    {
                        try
                        {
                            ca.EnablePeerAccess(cb);
                            if (driver.DeviceCanAccessPeer(cb.Device, ca.Device)) cb.EnablePeerAccess(ca);
                            verified = VerifyCopy(ca, cb, TransferPath.PciePeer, out peerError);
                        }
                        catch (CudaException e)
                        {
                            peerError = e.Message;
                        }
                    }
                    NvmlP2PStatus? read = null, overNvLink = null;
                    NvmlTopologyLevel? ancestor = null;
                    if (nvml != null && handles[a] is IntPtr ha && handles[b] is IntPtr hb)
                    {
                        read = nvml.P2PStatus(ha, hb, NvmlP2PCaps.Read);
                        overNvLink = nvml.P2PStatus(ha, hb, NvmlP2PCaps.NvLink);
                        ancestor = nvml.CommonAncestor(ha, hb);
                    }
                    int direct = TopologyRules.DirectNvLinks(links[a], pcis[b]);
                    bool switched = TopologyRules.BehindNvSwitch(links[a]) && TopologyRules.BehindNvSwitch(links[b]);
                    var path = TopologyRules.ChoosePath(verified, overNvLink, direct, switched);
                    LinkMeasurement? measured = null;
                    if (options.Measure)
                    {
                        if (path == TransferPath.HostStaged && !VerifyCopy(ca, cb, path, out string? stagedError))
                            peerError = (peerError == null ? "" : peerError + "; ") + "host-staged copy failed: " + stagedError;
                        else
                            measured = Measure(ca, cb, path, options);
                    }
                    result.Add(new CudaLink(a, b, can, verified, peerError, read, overNvLink, ancestor, direct, path, measured));
                }
            }
        }
        finally
        {
            foreach (var c in contexts) c.Dispose();
        }
        return result;
    }

    /// <summary>
    /// Copies a known pattern from a to b by the path and reads it back; false with the reason when it
    /// differs. For a granted peer pair this catches grants whose copies land wrong or fail; it cannot
    /// tell a direct P2P copy from one the driver quietly stages, which only the timing shows.
    /// </summary>
    private static bool VerifyCopy(CudaContext a, CudaContext b, TransferPath path, out string? error)
    {
        const int count = 16 << 10;
        var pattern = new uint[count];
        for (int i = 0; i < count; i++) pattern[i] = (uint)i * 2654435761u ^ 0xA5A5A5A5u;
        using var src = DeviceBuffer.Allocate(a, 4L * count);
        using var dst = DeviceBuffer.Allocate(b, 4L * count);
        using var copier = new CudaPeerCopier(a, b, path);
        using var streamA = CudaStream.Create(a);
        using var streamB = CudaStream.Create(b);
        src.Upload<uint>(pattern, streamA);
        streamA.Synchronize();
        dst.Fill(0, streamB);
        streamB.Synchronize();
        copier.Copy(src, 0, dst, 0, 4L * count);
        var back = new uint[count];
        dst.Download<uint>(back, streamB);
        for (int i = 0; i < count; i++)
        {
            if (back[i] == pattern[i]) continue;
            error = $"test copy cuda:{a.Ordinal} -> cuda:{b.Ordinal} over {path} returned wrong data at word {i} (0x{back[i]:X8}, expected 0x{pattern[i]:X8})";
            return false;
        }
        error = null;
        return true;
    }

    private static LinkMeasurement Measure(CudaContext a, CudaContext b, TransferPath path, CudaTopologyOptions options)
    {
        using var src = DeviceBuffer.Allocate(a, options.CopyBytes);
        using var dst = DeviceBuffer.Allocate(b, options.CopyBytes);
        using var copier = new CudaPeerCopier(a, b, path);
        double Median(int iterations, long bytes)
        {
            copier.Copy(src, 0, dst, 0, bytes); // warm-up
            var samples = new double[iterations];
            for (int i = 0; i < iterations; i++)
            {
                long start = Stopwatch.GetTimestamp();
                copier.Copy(src, 0, dst, 0, bytes);
                samples[i] = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
            Array.Sort(samples);
            return samples[iterations / 2];
        }
        int ping = (int)Math.Min(options.PingBytes, options.CopyBytes);
        double pingSeconds = Median(Math.Max(1, options.PingIterations), ping);
        double copySeconds = Median(Math.Max(1, options.CopyIterations), options.CopyBytes);
        return new LinkMeasurement(ping, pingSeconds * 1e6, options.CopyBytes, options.CopyBytes / copySeconds / 1e9);
    }

    /// <summary>Human-readable tables of devices and links (for `actors topology` and the GPU check runner).</summary>
    public string Format()
    {
        var text = new StringBuilder();
        if (!IsAvailable)
        {
            text.AppendLine(Reason);
            return text.ToString();
        }
        text.AppendLine(NvmlStatus);
        text.AppendLine($"{"dev",-7} {"name",-28} {"memory",10} {"cc",4} {"pci",-16} {"nvml",4} {"nvlinks",7}");
        foreach (var d in Devices)
            text.AppendLine($"{"cuda:" + d.Ordinal,-7} {Trim(d.Name, 28),-28} {StageMemoryPlan.Size(d.MemoryBytes),10} {d.ComputeCapability,4} {d.Pci,-16} {d.NvmlIndex?.ToString() ?? "-",4} {d.NvLinks.Count,7}");
        if (Links.Count == 0) return text.ToString();
        text.AppendLine();
        text.AppendLine($"{"link",-8} {"peer",-9} {"nvml read",-10} {"nvml nvlink",-11} {"ancestor",-10} {"links",5} {"path",-10} {"latency",10} {"bandwidth",11}");
        foreach (var l in Links)
        {
            string peer = l.PeerVerified ? "verified" : l.CanAccessPeer ? "FAILED" : "no";
            string latency = l.Measured is { } m ? $"{m.LatencyMicroseconds:0.0} us" : "-";
            string bandwidth = l.Measured is { } m2 ? $"{m2.BandwidthGBps:0.0} GB/s" : "-";
            text.AppendLine($"{l.Source + "->" + l.Destination,-8} {peer,-9} {l.P2PRead?.ToString() ?? "-",-10} {l.P2PNvLink?.ToString() ?? "-",-11} {l.CommonAncestor?.ToString() ?? "-",-10} {l.DirectNvLinks,5} {l.Path,-10} {latency,10} {bandwidth,11}");
            if (l.PeerError != null) text.AppendLine($"         {l.PeerError}");
        }
        return text.ToString();
    }

    private static string Trim(string s, int width) => s.Length <= width ? s : s[..(width - 1)] + "…";
}
