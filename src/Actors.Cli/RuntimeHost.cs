using Akka.Actor;
using Akka.Configuration;
using Actors.Inference.Compute;
using Actors.Runtime;

namespace Actors.Cli;

/// <summary>
/// Starts the actor runtime for a command: HOCON from --config (or config/default.conf when run from
/// the repository), then the command-line shortcuts (--model, --threads, --pipeline, --replicas,
/// --device) rendered as HOCON on top.
/// </summary>
public sealed class RuntimeHost : IAsyncDisposable
{
    public ActorSystem System { get; }
    public LlmRuntime Runtime { get; }

    public static IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("config", "HOCON deployment file, e.g. config/4x3090-pcie.conf (default: config/default.conf when present)"),
        new("threads", "CPU threads in total, 0 = all cores (default: from config)"),
        new("pipeline", "pipeline stages per replica, one CPU device each (default: from config)"),
        new("replicas", "data-parallel replicas (default: from config)"),
        new("device", "devices, e.g. cuda:0,cuda:1 or cpu (default: from config)"),
        new("kv-blocks", "KV blocks per stage, 0 = sized from memory (default: from config)"),
    ];

    private RuntimeHost(ActorSystem system, LlmRuntime runtime)
    {
        System = system;
        Runtime = runtime;
    }

    /// <summary>cpu and cuda devices are built into the runtime; simulated ones come from Actors.Simulation.</summary>
    public static RuntimeSetup Setup() =>
        new() { DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Simulated] = Actors.Simulation.SimulatedDevices.Create } };

    public static RuntimeHost Start(Arguments a, string? extraHocon = null)
    {
        var config = BuildConfig(a, extraHocon);
        var system = ActorSystem.Create("actors", BootstrapSetup.Create().WithConfig(config).And(Setup()));
        try
        {
            return new RuntimeHost(system, LlmRuntime.Get(system));
        }
        catch
        {
            system.Terminate().Wait(TimeSpan.FromSeconds(10));
            throw;
        }
    }

    public static Config BuildConfig(Arguments a, string? extraHocon)
    {
        var lines = new List<string> { "akka.loglevel = WARNING", "akka.log-dead-letters = off", "akka.log-dead-letters-during-shutdown = off" };
        if (a.Has("model")) lines.Add($"actors-runtime.model.path = \"{Escape(ModelArguments.ResolvePath(a))}\"");
        int threads = a.Has("threads") ? a.Int("threads", 0, 4096) : 0;
        int pipeline = a.Has("pipeline") ? a.Int("pipeline", 1, 64) : 0;
        int replicas = a.Has("replicas") ? a.Int("replicas", 1, 64) : 0;
        if (a.String("device") is { } deviceList)
        {
            var ids = deviceList.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            lines.Add("actors-runtime.devices = [ " + string.Join(", ", ids.Select((id, i) => DeviceEntry(id, i, threads))) + " ]");
        }
        else if (pipeline > 0 || replicas > 0 || a.Has("threads"))
        {
            // N CPU devices on one machine, each with its own share of the threads.
            int count = Math.Max(1, pipeline) * Math.Max(1, replicas);
            int total = threads > 0 ? threads : Environment.ProcessorCount;
            int each = Math.Max(1, total / count);
            lines.Add("actors-runtime.devices = [ " + string.Join(", ", Enumerable.Range(0, count).Select(i => $"{{ id = \"cpu:{i}\", kind = cpu, threads = {each} }}")) + " ]");
        }
        if (pipeline > 0) lines.Add($"actors-runtime.layout.pipeline = {pipeline}");
        if (replicas > 0) lines.Add($"actors-runtime.layout.replicas = {replicas}");
        if (a.Has("kv-blocks")) lines.Add($"actors-runtime.kv-cache.num-blocks = {a.Int("kv-blocks", 0)}");
        if (extraHocon != null) lines.Add(extraHocon);

        var overrides = ConfigurationFactory.ParseString(string.Join("\n", lines));
        string? file = a.String("config");
        if (file is null && File.Exists("config/default.conf") && !a.Has("config")) file = "config/default.conf";
        if (file is null) return overrides.WithFallback(AkkaDefaults);
        if (!File.Exists(file)) throw new CliException($"config file not found: {file}");
        Config fromFile;
        try
        {
            fromFile = Actors.Runtime.Configuration.RuntimeSettings.LoadFile(file);
        }
        catch (Exception ex)
        {
            throw new CliException($"{file}: {ex.Message}");
        }
        return overrides.WithFallback(fromFile).WithFallback(AkkaDefaults);
    }

    /// <summary>
    /// Akka settings of the command line that a config file may override. Akka's scheduler ticks every
    /// 10 ms whether or not a timer is due, and each tick wakes two threads (the .NET timer thread and a
    /// thread-pool worker): ~200 wake-ups a second that preempt the device's compute threads on a small
    /// machine. The runtime's timers (admission, deadlines, the step watchdog) are seconds long, so 50 ms
    /// of resolution costs nothing (docs/benchmarks.md, "Wake-ups per step").
    /// </summary>
    internal static readonly Config AkkaDefaults = ConfigurationFactory.ParseString("akka.scheduler.tick-duration = 50ms");

    private static string DeviceEntry(string id, int index, int threads)
    {
        if (id is "cpu") id = $"cpu:{index}";
        string kind = id.StartsWith("cuda", StringComparison.Ordinal) ? "cuda"
            : id.StartsWith("cpu", StringComparison.Ordinal) ? "cpu"
            : throw new CliException($"option '--device': '{id}' is neither cpu[:N] nor cuda:N");
        return $"{{ id = \"{id}\", kind = {kind}, threads = {threads} }}";
    }

    private static string Escape(string s) => s.Replace("\\", "/").Replace("\"", "\\\"");

    public async ValueTask DisposeAsync() => await System.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
}
