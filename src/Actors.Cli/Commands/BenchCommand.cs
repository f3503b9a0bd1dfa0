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
        new("shared-prefix", "tokens of a prefix every prompt shares (prefix caching)", "0"),
        new("seed", "workload seed", "1"),
        new("mode", "continuous, static, sequential, or all (the three side by side in one run, with ratios)", "continuous"),
        new("prefix-caching", "on or off (default: from config)"),
        new("json", "print one JSON object instead of a table", IsFlag: true),
        .. RuntimeHost.Options,
    ];

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
        await using var host = RuntimeHost.Start(a, extra);
        var spec = new WorkloadSpec(requests, a.Int("prompt-tokens", 1), a.Int("max-tokens", 1), a.Flag("fixed-lengths"),
            a.Int("shared-prefix", 0), rate, a.ULong("seed") ?? 1, host.Runtime.Model.Config.VocabSize);
        int context = host.Runtime.Model.Config.ContextLength;
        int longest = spec.SharedPrefix + (spec.FixedLengths ? spec.PromptTokens + spec.MaxTokens : (spec.PromptTokens * 3 + 1) / 2 + (spec.MaxTokens * 3 + 1) / 2);
        if (longest > context)
            throw new CliException($"the workload's longest request ({longest} tokens: prefix + prompt + output) exceeds the model's context of {context}");
        var workload = spec.Generate();

        // Warm up (JIT, page-in of the weights) with one short request, not measured.
        await new BenchRunner(host.Runtime).RunAsync((spec with { Requests = 1, MaxTokens = 2, PromptTokens = 4, FixedLengths = true, SharedPrefix = 0 }).Generate(),
            BenchMode.Sequential, 1, 0, cancel);
        var reports = new List<BenchReport>();
        foreach (var mode in modes)
        {
            var report = await new BenchRunner(host.Runtime).RunAsync(workload, mode, concurrency, rate, cancel);
            reports.Add(report);
            if (a.Flag("json")) continue;
            foreach (var line in report.ToTable()) await output.WriteLineAsync(line);
            await output.WriteLineAsync();
        }
        if (a.Flag("json"))
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
