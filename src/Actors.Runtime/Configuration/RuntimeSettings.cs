using Akka.Configuration;
using Actors.Inference.Compute;

namespace Actors.Runtime.Configuration;

public sealed record ModelOptions(string Path, string Name);

public sealed record SchedulingOptions(
    int MaxBatchedTokens,
    int MaxRunningSequences,
    int MaxWaiting,
    int MaxModelLength,
    bool ChunkedPrefill,
    bool PrefixCaching,
    Scheduling.PreemptionMode PreemptionMode,
    int MaxInFlightSteps,
    TimeSpan StepTimeout = default);

public sealed record KvCacheOptions(int BlockSize, int NumBlocks, double MemoryFraction, int MaxBlocks, KvCacheType Type, int SwapBlocks, bool SlidingWindowPool = true);

/// <param name="Node">Empty for a device of this process; else the Akka address of the node whose stage host runs it (akka.tcp://system@host:port).</param>
public sealed record DeviceOptions(string Id, DeviceKind Kind, int Threads, string Spec, string Node = "");

/// <summary>An explicitly placed stage: replica, device id, and layers [Start, End).</summary>
public sealed record StageOptions(int Replica, string Device, LayerRange? Layers);

public sealed record LayoutOptions(int Replicas, int Pipeline, IReadOnlyList<StageOptions> Stages);

public sealed record RequestOptions(int StreamBuffer, int DefaultMaxTokens, TimeSpan AdmissionTimeout, TimeSpan MaxPaused = default);

/// <summary>actors-runtime.fault-injection: rates are probabilities per device step (kill-scheduler: per completed step).</summary>
public sealed record FaultInjectionOptions(bool Enabled, int Seed, double StepErrorRate, double NanLogitsRate, double HangRate, TimeSpan HangTime,
    double StickyFaultRate, double KillStageRate, double KillSchedulerRate)
{
    public static readonly FaultInjectionOptions Off = new(false, 1, 0, 0, 0, TimeSpan.Zero, 0, 0, 0);
    /// <summary>Whether any device-step fault can fire (a stage needs an injector).</summary>
    public bool AffectsSteps => Enabled && StepErrorRate + NanLogitsRate + HangRate + StickyFaultRate + KillStageRate > 0;
}

public sealed record LinkOptions(string From, string To, string Kind, double Bandwidth, TimeSpan Latency);

/// <param name="NetworkTimeout">How long a remote stage's data connection may stay silent (connect, step, KV page) before its steps fail.</param>
public sealed record TransferOptions(IReadOnlyList<LinkOptions> Links, double HostCopyBandwidth, TimeSpan NetworkTimeout);

/// <summary>
/// The runtime's settings, built from the `actors-runtime` section (user config over the embedded
/// reference.conf) and validated; defaults live only in reference.conf.
/// </summary>
public sealed record RuntimeSettings(
    ModelOptions Model,
    SchedulingOptions Scheduler,
    KvCacheOptions KvCache,
    IReadOnlyList<DeviceOptions> Devices,
    LayoutOptions Layout,
    RequestOptions Request,
    TransferOptions Transfer,
    bool VirtualClock = false,
    bool CudaFallbackToCpu = false,
    bool WarmUp = true,
    FaultInjectionOptions? FaultInjection = null,
    bool TopKSampling = true)
{
    public FaultInjectionOptions Faults => FaultInjection ?? FaultInjectionOptions.Off;

    public const string Root = "actors-runtime";

    /// <summary>Keys allowed in the objects of the lists (reference.conf's lists are empty or show only some keys).</summary>
    private static readonly Dictionary<string, string[]> ListElementKeys = new()
    {
        ["devices"] = ["id", "kind", "threads", "spec", "node"],
        ["layout.stages"] = ["replica", "device", "layers"],
        ["transfer.links"] = ["from", "to", "kind", "bandwidth", "latency"],
    };

    /// <summary>The embedded reference.conf (every default, with a comment per key).</summary>
    public static Config DefaultConfig() =>
        ConfigurationFactory.FromResource("Actors.Runtime.reference.conf", typeof(RuntimeSettings).Assembly);

    /// <summary>Parses a deployment file; `include "other.conf"` resolves relative to the file's folder.</summary>
    public static Config LoadFile(string path)
    {
        string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) ?? ".";
        Akka.Configuration.Hocon.HoconRoot Include(string name)
        {
            string included = System.IO.Path.Combine(dir, name);
            if (!File.Exists(included)) throw new InvalidConfigurationException($"{path}: included file not found: {name}");
            return ConfigurationFactory.ParseString(File.ReadAllText(included), Include).Root is var root ? new Akka.Configuration.Hocon.HoconRoot(root) : null!;
        }
        return ConfigurationFactory.ParseString(File.ReadAllText(path), Include);
    }

    /// <summary>Reads and validates settings from a config (the reference defaults are added as fallback).</summary>
    public static RuntimeSettings Create(Config config)
    {
        var full = config.WithFallback(DefaultConfig());
        if (!full.HasPath(Root)) throw new InvalidConfigurationException($"{Root} section is missing");
        KnownKeys.Check(full, DefaultConfig(), Root, ListElementKeys, "device-dispatchers");
        var r = new HoconReader(full.GetConfig(Root), Root);

        var model = new ModelOptions(r.String("model.path"), r.String("model.name"));

        var s = r.Section("scheduler");
        var scheduler = new SchedulingOptions(
            s.Int("max-batched-tokens", 1, 1 << 20),
            s.Int("max-running-sequences", 1, 1 << 16),
            s.Int("max-waiting", 0, 1 << 24),
            s.Int("max-model-length", 0),
            s.Bool("chunked-prefill"),
            s.Bool("prefix-caching"),
            s.OneOf("preemption-mode", "recompute", "swap", "auto") switch
            {
                "swap" => Scheduling.PreemptionMode.Swap,
                "auto" => Scheduling.PreemptionMode.Auto,
                _ => Scheduling.PreemptionMode.Recompute,
            },
            s.Int("max-in-flight-steps", 0, 64),
            s.Duration("step-timeout", TimeSpan.Zero));

        var k = r.Section("kv-cache");
        var kv = new KvCacheOptions(
            k.Int("block-size", 1, 1024),
            k.Int("num-blocks", 0),
            k.Double("memory-fraction", 0.0001, 0.99),
            k.Int("max-blocks", 1),
            k.OneOf("type", "f32", "f16") == "f16" ? KvCacheType.F16 : KvCacheType.F32,
            k.Int("swap-blocks", 0),
            k.Bool("sliding-window-pool"));

        var devices = new List<DeviceOptions>();
        foreach (var d in r.ObjectList("devices"))
        {
            string id = d.String("id");
            if (string.IsNullOrWhiteSpace(id)) throw new InvalidConfigurationException($"{d.Prefix}.id is empty");
            var kind = d.OneOf("kind", "cpu", "cuda", "simulated") switch
            {
                "cpu" => DeviceKind.Cpu,
                "cuda" => DeviceKind.Cuda,
                _ => DeviceKind.Simulated,
            };
            int threads = d.Has("threads") ? d.Int("threads", 0, 4096) : 0;
            string spec = d.Has("spec") ? d.String("spec") : "";
            if (kind == DeviceKind.Simulated && spec.Length == 0)
                throw new InvalidConfigurationException($"{d.Prefix}.spec is missing: a simulated device names its GPU kind, e.g. spec = rtx3090");
            if (devices.Any(x => x.Id == id)) throw new InvalidConfigurationException($"{d.Prefix}.id = \"{id}\" is listed twice");
            string node = d.Has("node") ? d.String("node").Trim() : "";
            if (node.Length > 0 && !(node.StartsWith("akka.tcp://", StringComparison.Ordinal) && node.Contains('@')))
                throw new InvalidConfigurationException($"{d.Prefix}.node = \"{node}\" is not an Akka address like \"akka.tcp://actors@10.0.0.2:4053\"");
            devices.Add(new DeviceOptions(id, kind, threads, spec, node));
        }
        if (devices.Count == 0) throw new InvalidConfigurationException($"{Root}.devices is empty: list at least one device");

        var l = r.Section("layout");
        var stages = new List<StageOptions>();
        foreach (var st in l.ObjectList("stages"))
        {
            string device = st.String("device");
            if (devices.All(x => x.Id != device))
                throw new InvalidConfigurationException($"{st.Prefix}.device = \"{device}\" is not a configured device (known: {string.Join(", ", devices.Select(x => x.Id))})");
            LayerRange? layers = st.Has("layers") ? ParseLayers(st.String("layers"), $"{st.Prefix}.layers") : null;
            stages.Add(new StageOptions(st.Has("replica") ? st.Int("replica", 0) : 0, device, layers));
        }
        var layout = new LayoutOptions(l.Int("replicas", 1, 1024), l.Int("pipeline", 1, 1024), stages);

        var q = r.Section("request");
        var request = new RequestOptions(q.Int("stream-buffer", 1, 1 << 20), q.Int("default-max-tokens", 1), q.Duration("admission-timeout", TimeSpan.FromMilliseconds(1)),
            q.Duration("max-paused", TimeSpan.Zero));

        var fi = r.Section("fault-injection");
        var faults = new FaultInjectionOptions(fi.Bool("enabled"), fi.Int("seed"), fi.Double("step-error-rate", 0, 1), fi.Double("nan-logits-rate", 0, 1),
            fi.Double("hang-rate", 0, 1), fi.Duration("hang-time", TimeSpan.Zero), fi.Double("sticky-fault-rate", 0, 1), fi.Double("kill-stage-rate", 0, 1),
            fi.Double("kill-scheduler-rate", 0, 1));
        if (faults.StepErrorRate + faults.NanLogitsRate + faults.HangRate + faults.StickyFaultRate + faults.KillStageRate > 1)
            throw new InvalidConfigurationException($"{Root}.fault-injection: the per-step rates add up to more than 1");

        var t = r.Section("transfer");
        var links = new List<LinkOptions>();
        foreach (var lk in t.ObjectList("links"))
            links.Add(new LinkOptions(lk.String("from"), lk.String("to"),
                lk.OneOf("kind", "nvlink", "pcie-p2p", "host-staged", "network", "host"),
                lk.Double("bandwidth", 1), lk.Duration("latency", TimeSpan.Zero)));
        var transfer = new TransferOptions(links, t.Double("host-copy-bandwidth", 1), t.Duration("network-timeout", TimeSpan.FromMilliseconds(1)));

        return new RuntimeSettings(model, scheduler, kv, devices, layout, request, transfer, r.OneOf("clock", "real", "virtual") == "virtual",
            r.OneOf("cuda-fallback", "stop", "cpu") == "cpu", r.Bool("warm-up"), faults, r.Bool("top-k-sampling"));
    }

    /// <summary>"0-11" or "12" to a layer range [Start, End).</summary>
    public static LayerRange ParseLayers(string text, string key)
    {
        var parts = text.Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length is 1 or 2 && int.TryParse(parts[0], out int a) && int.TryParse(parts[^1], out int b) && a >= 0 && b >= a)
            return new LayerRange(a, b + 1);
        throw new InvalidConfigurationException($"{key} = \"{text}\" is not a layer range: use \"first-last\" (inclusive), e.g. \"0-11\"");
    }
}
