namespace Actors.Simulation.Catalog;

/// <summary>
/// GPUs, CPU templates and links read from config/catalog/hardware.conf (embedded in this assembly;
/// a user's own file may replace or extend it). Lookups forgive case and punctuation ("rtx3090");
/// unknown names list the known ones.
/// </summary>
public sealed class HardwareCatalog
{
    public const string EmbeddedResourceName = "Actors.Simulation.catalog.hardware.conf";

    private static readonly Lazy<HardwareCatalog> s_default = new(() => Parse(HoconSections.ReadEmbedded(EmbeddedResourceName), "hardware.conf (embedded)"));

    public IReadOnlyDictionary<string, GpuSpec> Gpus { get; }
    public IReadOnlyDictionary<string, LinkSpec> Links { get; }

    private HardwareCatalog(Dictionary<string, GpuSpec> gpus, Dictionary<string, LinkSpec> links)
    {
        Gpus = gpus;
        Links = links;
    }

    /// <summary>The catalog shipped with the assembly.</summary>
    public static HardwareCatalog Default => s_default.Value;

    public static HardwareCatalog Load(string path) => Parse(File.ReadAllText(path), path);

    public static HardwareCatalog Parse(string hocon, string source = "hardware catalog")
    {
        var root = HoconSections.Parse(hocon, source);
        var gpus = new Dictionary<string, GpuSpec>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, f) in HoconSections.Children(root, "gpus")) gpus[name] = ReadDevice(name, f, isCpu: false);
        foreach (var (name, f) in HoconSections.Children(root, "cpus")) gpus[name] = ReadDevice(name, f, isCpu: true);
        var links = new Dictionary<string, LinkSpec>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, f) in HoconSections.Children(root, "links")) links[name] = ReadLink(name, f);
        if (gpus.Count == 0) throw new CatalogException($"{source}: section 'gpus' is missing or empty");

        foreach (var gpu in gpus.Values)
        {
            string section = gpu.IsCpu ? "cpus" : "gpus";
            if (gpu.NvLink is { } nv && !links.ContainsKey(nv))
                throw new CatalogException($"{section}.{gpu.Name}.nvlink = '{nv}' is not a link in this catalog (known: {Known(links.Keys)})");
            if (!links.ContainsKey(gpu.Pcie))
                throw new CatalogException($"{section}.{gpu.Name}.pcie = '{gpu.Pcie}' is not a link in this catalog (known: {Known(links.Keys)})");
        }
        return new HardwareCatalog(gpus, links);
    }

    public GpuSpec Gpu(string name) => CatalogNames.TryFind(Gpus, name, out var g) ? g
        : throw new CatalogException($"unknown GPU '{name}' (known: {Known(Gpus.Keys)})");

    public LinkSpec Link(string name) => CatalogNames.TryFind(Links, name, out var l) ? l
        : throw new CatalogException($"unknown link '{name}' (known: {Known(Links.Keys)})");

    internal static string Known(IEnumerable<string> names) => string.Join(", ", names.Order(StringComparer.Ordinal));

    private static GpuSpec ReadDevice(string name, HoconFields f, bool isCpu)
    {
        const double GiB = 1024.0 * 1024 * 1024;
        double memory = f.RequiredDouble("memory-gib");
        double reserved = f.OptionalDouble("reserved-gib", 0, 0, memory);
        if (reserved >= memory) throw new CatalogException($"{f.Path}.reserved-gib = {reserved} leaves no memory of {memory} GiB");
        double fp16 = f.RequiredDouble("fp16-tflops");
        return new GpuSpec
        {
            Name = name,
            MemoryBytes = (long)(memory * GiB),
            ReservedBytes = (long)(reserved * GiB),
            MemoryBandwidth = f.RequiredDouble("memory-bandwidth-gbs") * 1e9,
            Fp16Flops = fp16 * 1e12,
            Bf16Flops = f.OptionalDouble("bf16-tflops", fp16) * 1e12,
            Int8Ops = f.OptionalDouble("int8-tops", 0) * 1e12,
            MemoryEfficiency = f.RequiredDouble("memory-efficiency", 0.01, 1),
            ComputeEfficiency = f.RequiredDouble("compute-efficiency", 0.01, 1),
            LaunchOverheadSeconds = f.RequiredDouble("launch-overhead-us", 0, 1e6) * 1e-6,
            NvLink = f.OptionalString("nvlink"),
            Pcie = f.OptionalString("pcie") ?? throw new CatalogException($"{f.Path}.pcie is missing (the link between two such devices without NVLink)"),
            IsCpu = isCpu,
            MatmulKernels = ReadMatmulKernels(f),
            AttentionFlops = f.OptionalDouble("attention-gflops", 0, 0, 1e9) * 1e9,
            ElementwiseBandwidth = f.OptionalDouble("elementwise-gbs", 0, 0, 1e9) * 1e9,
        };
    }

    /// <summary>
    /// Optional per-format kernels (see <see cref="MatmulKernel"/>), in one of two forms:
    /// `matmul { Q4_K { tiled-tflops = 0.21, single-tflops = 0.07, tile-tokens = 4, stream-gbs = 28 } }`
    /// (one set of rates for every row length), or rates per measured row length:
    /// `matmul { F16 { tile-tokens = 6, row-length { 4096 { tiled-tflops = 0.12, single-tflops = 0.05, stream-gbs = 31 }, 11008 { ... } } } }`.
    /// `leftover-rereads = true`: tokens left over after whole tiles take a second pass over the weights.
    /// `actors validate` measures them for this machine's CPU.
    /// </summary>
    private static Dictionary<string, MatmulKernel> ReadMatmulKernels(HoconFields f)
    {
        var kernels = new Dictionary<string, MatmulKernel>(StringComparer.OrdinalIgnoreCase);
        foreach (var (format, k) in f.Objects("matmul"))
        {
            int tile = k.RequiredInt("tile-tokens", 1, 4096);
            var rates = k.Objects("row-length").Select(r => ReadRates(r.Fields,
                int.TryParse(r.Key, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int length) && length > 0
                    ? length : throw new CatalogException($"{r.Fields.Path}: a row length must be a positive whole number"))).ToList();
            if (rates.Count == 0) rates.Add(ReadRates(k, 0));
            kernels[format] = new MatmulKernel(tile, rates) { LeftoversReread = k.OptionalBool("leftover-rereads", false) };
        }
        return kernels;
    }

    private static MatmulRates ReadRates(HoconFields r, int rowLength)
        => new(rowLength, r.RequiredDouble("tiled-tflops") * 1e12, r.RequiredDouble("single-tflops") * 1e12, r.OptionalDouble("stream-gbs", 0) * 1e9,
            r.OptionalDouble("tile-stream-tflops", 0) * 1e12);

    private static LinkSpec ReadLink(string name, HoconFields f)
    {
        double bw = f.RequiredDouble("bandwidth-gbs");
        double bidi = f.OptionalDouble("bidirectional-gbs", 2 * bw, bw, 2 * bw);
        string scope = f.OptionalString("scope") ?? "device";
        return new LinkSpec
        {
            Name = name,
            Bandwidth = bw * 1e9,
            BidirectionalBandwidth = bidi * 1e9,
            LatencySeconds = f.RequiredDouble("latency-us", 0, 1e6) * 1e-6,
            Efficiency = f.RequiredDouble("efficiency", 0.01, 1),
            Scope = scope switch
            {
                "device" => LinkScope.Device,
                "network" => LinkScope.Network,
                _ => throw new CatalogException($"{f.Path}.scope = '{scope}' must be 'device' or 'network'"),
            },
            PairsOnly = f.OptionalBool("pairs-only", false),
        };
    }
}
