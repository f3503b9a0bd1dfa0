using Actors.Cli.Bench;

namespace Actors.Cli.Commands;

/// <summary>`actors bench`: a workload through the runtime, with continuous, static and sequential modes to compare.</summary>
public sealed class BenchCommand : ICommand
{
    public string Name => "bench";
    public string Summary => "run a workload through the runtime and report tokens/s, TTFT and inter-token latency";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("requests", "number of requests", "64"),
        new("concurrency", "requests kept in flight (closed loop); batch size in static mode", "32"),
        new("rate", "open-loop arrival rate in requests per second (Poisson); overrides --concurrency"),
        new("prompt-tokens", "mean prompt length (uniform in [mean/2, 3·mean/2] unless --fixed-lengths)", "128"),
        new("max-tokens", "mean tokens to generate", "64"),
        new("fixed-lengths", "use exactly --prompt-tokens and --max-tokens for every request", IsFlag: true),
        new("spread", "length distribution around the means: uniform ([mean/2, 3·mean/2]) or lognormal (σ = 1, a long tail like chat traffic)", "uniform"),
        new("shared-prefix", "tokens of a prefix every prompt shares (prefix caching)", "0"),
        new("seed", "workload seed", "1"),
        new("mode", "continuous, static, sequential, or all (the three side by side in one run, with ratios)", "continuous"),
        new("prefix-caching", "on or off (default: from config)"),
        new("json", "print one JSON object instead of a table", IsFlag: true),
        new("cold", "measure from a fresh process: no warm-up request before the workload (the first request's TTFT includes what the runtime did not warm at load; only the bench's own code is compiled first)", IsFlag: true),
        new("warm-up", "on or off: the runtime's dummy step at model load (default: from config)"),
        new("top-k-sampling", "on or off: greedy (and top-k sampling) steps take each row's best tokens from the last stage instead of its logits (default: from config)"),
        new("simulate", "run on simulated GPUs instead, e.g. rtx-3090 or 4x rtx-3090 (then --model is a catalog model such as llama-2-7b and --quant a format)"),
        new("quant", "weight format with --simulate", "F16"),
        .. RuntimeHost.Options,
    ];

    private static LengthSpread Spread(Arguments a) => a.RequireString("spread") switch
    {
        "uniform" => LengthSpread.Uniform,
        "lognormal" => LengthSpread.LogNormal,
        var v => throw new CliException($"option '--spread' must be uniform or lognormal, got '{v}'"),
    };

    /// <summary>The same workload and modes on simulated GPUs through the runtime's virtual clock.</summary>
    private static async Task<int> Simulated(Arguments a, BenchMode[] modes, int requests, TextWriter output, CancellationToken cancel)
    {
        var hw = Actors.Simulation.Catalog.HardwareCatalog.Default;
        var models = Actors.Simulation.Catalog.ModelCatalog.Default;
        string rig = a.RequireString("simulate");
        if (!System.Text.RegularExpressions.Regex.IsMatch(rig, @"^\s*\d+\s*x")) rig = "1x " + rig;
        Actors.Simulation.Planning.Topology topology;
        Actors.Simulation.Catalog.ModelShape model;
        Actors.Simulation.Catalog.WeightFormat format;
        try
        {
            topology = Actors.Simulation.Planning.Topology.Parse(hw, rig);
            model = models.Model(a.String("model") ?? "llama-2-7b");
            format = models.Format(a.RequireString("quant"));
        }
        catch (Exception ex) when (ex is Actors.Simulation.Catalog.CatalogException or ArgumentException or KeyNotFoundException)
        {
            throw new CliException(ex.Message);
        }
        int concurrency = a.Int("concurrency", 1, 100_000);
        int pipeline = a.Has("pipeline") ? a.Int("pipeline", 1, 64) : 1;
        int replicas = a.Has("replicas") ? a.Int("replicas", 1, 64) : 1;
        var spec = new WorkloadSpec(requests, a.Int("prompt-tokens", 1), a.Int("max-tokens", 1), a.Flag("fixed-lengths"), 0, 0, a.ULong("seed") ?? 1, 100, Spread(a));
        var workload = spec.Generate().Select(r => (r.Prompt.Length, r.MaxTokens)).ToList();
        bool topKSampling = a.String("top-k-sampling") switch
        {
            null or "on" => true,
            "off" => false,
            var v => throw new CliException($"option '--top-k-sampling' must be on or off, got '{v}'"),
        };
        var results = new List<Actors.Simulation.Serving.SimulatedModeResult>();
        foreach (var mode in modes)
        {
            var r = await Actors.Simulation.Serving.SimulatedBench.RunAsync(mode.ToString().ToLowerInvariant(), model, format, topology, pipeline, replicas, workload, concurrency, cancel,
                topKSampling);
            results.Add(r);
            if (a.Flag("json")) continue;
            var ttft = r.TtftMs.ToList();
            var itl = r.ItlMs.ToList();
            await output.WriteLineAsync($"mode                 {r.Mode} (simulated {topology.GpuCount}x {topology.Gpu.Name}, {model.Name} {format.Name}, virtual clock)");
            await output.WriteLineAsync($"tokens               {r.GeneratedTokens} generated in {r.VirtualSeconds:F2} s of virtual time ({r.WallSeconds:F2} s of wall time, {r.WallSeconds / r.VirtualSeconds:F2}x)");
            await output.WriteLineAsync($"runtime overhead     {r.RuntimeMicrosecondsPerToken:F1} µs of CPU per token outside forward passes");
            await output.WriteLineAsync($"throughput           {r.TokensPerSecond:F1} tokens/s");
            await output.WriteLineAsync($"time to first token  p50 {BenchReport.Percentile(ttft, 50):F1} ms   p99 {BenchReport.Percentile(ttft, 99):F1} ms");
            await output.WriteLineAsync($"inter-token latency  p50 {BenchReport.Percentile(itl, 50):F2} ms   p99 {BenchReport.Percentile(itl, 99):F2} ms");
            await output.WriteLineAsync($"preemptions          {r.Preemptions}");
            await output.WriteLineAsync();
        }
        if (a.Flag("json"))
        {
            var inv = System.Globalization.CultureInfo.InvariantCulture;
            await output.WriteLineAsync("{" + string.Join(",", results.Select(r => string.Create(inv,
                $"\"{r.Mode}\":{{\"tokens_per_second\":{r.TokensPerSecond},\"requests\":{requests},\"generated_tokens\":{r.GeneratedTokens},\"preemptions\":{r.Preemptions}," +
                $"\"ttft_ms_p50\":{BenchReport.Percentile(r.TtftMs.ToList(), 50)},\"itl_ms_p50\":{BenchReport.Percentile(r.ItlMs.ToList(), 50)}," +
                $"\"virtual_seconds\":{r.VirtualSeconds},\"wall_seconds\":{r.WallSeconds},\"wall_over_virtual\":{r.WallSeconds / r.VirtualSeconds},\"runtime_us_per_token\":{r.RuntimeMicrosecondsPerToken}}}"))) + "}");
        }
        else if (results.Count == 3)
        {
            await output.WriteLineAsync($"continuous / sequential  {results[2].TokensPerSecond / results[0].TokensPerSecond:F2}x");
            await output.WriteLineAsync($"continuous / static      {results[2].TokensPerSecond / results[1].TokensPerSecond:F2}x");
        }
        return 0;
    }

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string modeName = a.RequireString("mode");
        BenchMode[] modes = modeName switch
        {
            "continuous" => [BenchMode.Continuous],
            "static" => [BenchMode.Static],
            "sequential" => [BenchMode.Sequential],
            "all" => [BenchMode.Sequential, BenchMode.Static, BenchMode.Continuous],
            var m => throw new CliException($"option '--mode' must be continuous, static, sequential or all, got '{m}'"),
        };
        int requests = a.Int("requests", 1, 1_000_000);
        if (a.Has("simulate")) return await Simulated(a, modes, requests, output, cancel);
        int concurrency = a.Int("concurrency", 1, 100_000);
        double rate = a.Has("rate") ? a.Double("rate", 1e-6, 1e6) : 0;
        string? extra = a.String("prefix-caching") switch
        {
            null => null,
            "on" => "actors-runtime.scheduler.prefix-caching = on",
            "off" => "actors-runtime.scheduler.prefix-caching = off",
            var v => throw new CliException($"option '--prefix-caching' must be on or off, got '{v}'"),
        };
        // The modes of `all` replay the same prompts: keep the prefix cache from serving later modes from earlier ones.
        if (extra is null && modes.Length > 1) extra = "actors-runtime.scheduler.prefix-caching = off";
        extra = a.String("warm-up") switch
        {
            null => extra,
            "on" or "off" => (extra is null ? "" : extra + "\n") + "actors-runtime.warm-up = " + a.String("warm-up"),
            var v => throw new CliException($"option '--warm-up' must be on or off, got '{v}'"),
        };
        extra = a.String("top-k-sampling") switch
        {
            null => extra,
            "on" or "off" => (extra is null ? "" : extra + "\n") + "actors-runtime.top-k-sampling = " + a.String("top-k-sampling"),
            var v => throw new CliException($"option '--top-k-sampling' must be on or off, got '{v}'"),
        };
        await using var host = RuntimeHost.Start(a, extra);
        var spec = new WorkloadSpec(requests, a.Int("prompt-tokens", 1), a.Int("max-tokens", 1), a.Flag("fixed-lengths"),
            a.Int("shared-prefix", 0), rate, a.ULong("seed") ?? 1, host.Runtime.Model.Config.VocabSize, Spread(a));
        int context = host.Runtime.Model.Config.ContextLength;
        int longest = spec.LongestRequest;
        if (longest > context)
            throw new CliException($"the workload's longest request ({longest} tokens: prefix + prompt + output) exceeds the model's context of {context}");
        var workload = spec.Generate();

        bool json = a.Flag("json");
        Task<BenchReport> Measure(List<BenchRequest> requests, BenchMode mode, bool show, bool dry) =>
            CliProgress.Run(show, $"bench {mode.ToString().ToLowerInvariant()}", requests.Count,
                progress => new BenchRunner(host.Runtime) { Progress = progress.Report, Dry = dry }.RunAsync(requests, mode, concurrency, rate, cancel));

        // The bench's own async methods compile their state machines' boxes on their first wait: left to the first
        // measured request, that was 9-15 generic instantiations (3-10 ms of JIT on a third thread) taking a core
        // from its prefill on a 2-core machine. One dry request per mode through the same path compiles them
        // without touching the runtime, so --cold still measures the runtime's first request.
        foreach (var mode in modes) await Measure(workload.Take(1).ToList(), mode, show: false, dry: true);
        // Warm up (JIT, page-in of the weights) with one short request, not measured.
        if (!a.Flag("cold"))
            await new BenchRunner(host.Runtime).RunAsync((spec with { Requests = 1, MaxTokens = 2, PromptTokens = 4, FixedLengths = true, SharedPrefix = 0 }).Generate(),
            BenchMode.Sequential, 1, 0, cancel);
        var reports = new List<BenchReport>();
        foreach (var mode in modes)
        {
            var report = await Measure(workload, mode, CliProgress.ShouldShow(json), dry: false);
            reports.Add(report);
            if (json) continue;
            foreach (var line in report.ToTable()) await output.WriteLineAsync(line);
            await output.WriteLineAsync();
        }
        if (json)
            await output.WriteLineAsync(reports.Count == 1 ? reports[0].ToJson()
                : "{" + string.Join(",", reports.Select(r => $"\"{r.Mode}\":{r.ToJson()}")) + "}");
        else if (reports.Count == 3)
        {
            double seq = reports[0].TokensPerSecond, stat = reports[1].TokensPerSecond, cont = reports[2].TokensPerSecond;
            await output.WriteLineAsync($"continuous / sequential  {cont / seq:F2}x");
            await output.WriteLineAsync($"continuous / static      {cont / stat:F2}x");
        }
        return reports.All(r => r.Completed > 0) ? 0 : 1;
    }
}
