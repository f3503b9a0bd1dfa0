using System.Diagnostics;
using Akka.Actor;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cli.Bench;

public enum BenchMode
{
    /// <summary>Continuous batching: requests join and leave the running batch every step.</summary>
    Continuous,
    /// <summary>Static batching: batches of `concurrency` requests start together and wait for their slowest member.</summary>
    Static,
    /// <summary>One request at a time.</summary>
    Sequential,
}

/// <summary>Drives a workload through the runtime and measures it from the client's side.</summary>
public sealed class BenchRunner(LlmRuntime runtime)
{
    private sealed record Result(bool Rejected, GenerationCompleted? Completed, int Tokens);

    /// <summary>Told the number of requests finished so far (for a progress bar); any thread.</summary>
    public Action<double>? Progress { get; init; }
    private int _finished;

    /// <summary>
    /// Sends nothing to the runtime: every request waits once on a task that answers nothing and counts as
    /// rejected. Runs the bench's own code (its async state machines) once before a measurement.
    /// </summary>
    public bool Dry { get; init; }

    public async Task<BenchReport> RunAsync(List<BenchRequest> workload, BenchMode mode, int concurrency, double rate, CancellationToken cancel)
    {
        var results = new Result[workload.Count];
        // The schedulers keep their own peak: a sampling timer here would wake two threads 50 times a
        // second beside the compute threads and slow the very decode it measures.
        foreach (var g in runtime.Metrics.Replicas()) g.BlocksPeak = g.BlocksUsed;
        var busyBefore = await DeviceBusy();
        var forwardBefore = _forward.ToDictionary(k => k.Key, k => k.Value);
        double transferBefore = runtime.Transfers.TotalSeconds;
        long preemptionsBefore = runtime.Metrics.PreemptionsTotal;
        var clock = Stopwatch.StartNew();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var switchesBefore = ThreadSwitches.Read();

        switch (mode)
        {
            case BenchMode.Sequential:
                foreach (var r in workload) results[r.Index] = await One(r, cancel);
                break;
            case BenchMode.Static:
                for (int i = 0; i < workload.Count; i += concurrency)
                {
                    var batch = workload.Skip(i).Take(concurrency).ToList();
                    var done = await Task.WhenAll(batch.Select(r => One(r, cancel)));
                    for (int j = 0; j < batch.Count; j++) results[batch[j].Index] = done[j];
                }
                break;
            default:
                if (rate > 0)
                {
                    // Open loop: each request is sent at its Poisson arrival time, however busy the runtime is.
                    var tasks = workload.Select(async r =>
                    {
                        var wait = TimeSpan.FromSeconds(r.ArrivalSeconds) - clock.Elapsed;
                        if (wait > TimeSpan.Zero) await Task.Delay(wait, cancel);
                        results[r.Index] = await One(r, cancel);
                    });
                    await Task.WhenAll(tasks);
                }
                else
                {
                    // Closed loop: keep `concurrency` requests in flight.
                    int next = -1;
                    var workers = Enumerable.Range(0, concurrency).Select(async _ =>
                    {
                        int i;
                        while ((i = Interlocked.Increment(ref next)) < workload.Count) results[workload[i].Index] = await One(workload[i], cancel);
                    });
                    await Task.WhenAll(workers);
                }
                break;
        }
        double seconds = clock.Elapsed.TotalSeconds;
        double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
        var switches = ThreadSwitches.Read() - switchesBefore;
        var busyAfter = await DeviceBusy();
        var forwardAfter = _forward;
        var completed = results.Where(r => r.Completed != null).Select(r => r.Completed!).ToList();
        var ttft = completed.Where(c => c.Usage.CompletionTokens > 0).Select(c => c.Timings.TimeToFirstTokenMs).ToList();
        var itl = completed.SelectMany(c => c.Timings.InterTokenMs).ToList();
        long generated = completed.Sum(c => (long)c.Usage.CompletionTokens);
        double forwardCpu = forwardAfter.Keys.Sum(k => (forwardAfter[k] - forwardBefore[k]) * _threads.GetValueOrDefault(k, 1));
        var stageBusy = runtime.Layout.Replicas[0].Select(s => (busyAfter[s.DeviceId] - busyBefore[s.DeviceId]) / seconds).ToArray();
        var gauges = runtime.Metrics.Replicas().ToList();
        long queries = gauges.Sum(g => Interlocked.Read(ref g.PrefixQueries)), hits = gauges.Sum(g => Interlocked.Read(ref g.PrefixHits));
        return new BenchReport
        {
            Mode = mode.ToString().ToLowerInvariant(),
            Requests = workload.Count,
            Completed = completed.Count,
            Rejected = results.Count(r => r.Rejected),
            GeneratedTokens = generated,
            PromptTokens = completed.Sum(c => (long)c.Usage.PromptTokens),
            Seconds = seconds,
            TokensPerSecond = generated / seconds,
            TtftP50 = BenchReport.Percentile(ttft, 50),
            TtftP99 = BenchReport.Percentile(ttft, 99),
            TtftFirst = workload.Count > 0 && results[workload[0].Index].Completed is { Usage.CompletionTokens: > 0 } first ? first.Timings.TimeToFirstTokenMs : null,
            ItlP50 = BenchReport.Percentile(itl, 50),
            ItlP99 = BenchReport.Percentile(itl, 99),
            Preemptions = runtime.Metrics.PreemptionsTotal - preemptionsBefore,
            KvBlocksPeak = runtime.Metrics.Replicas().Sum(g => g.BlocksPeak),
            KvBlocksTotal = runtime.KvCache.NumBlocks * runtime.Layout.ReplicaCount,
            PrefixHitRate = queries == 0 ? 0 : (double)hits / queries,
            DeviceBusyFraction = busyAfter.Keys.Average(k => (busyAfter[k] - busyBefore[k]) / seconds),
            RuntimeMicrosecondsPerToken = generated == 0 ? 0 : Math.Max(0, cpuSeconds - forwardCpu) * 1e6 / generated,
            ForwardFraction = forwardAfter.Keys.Average(k => (forwardAfter[k] - forwardBefore[k]) / seconds),
            StageBusyFractions = stageBusy,
            ContextSwitchesPerToken = generated == 0 ? null
                : new SwitchesPerToken((double)switches.ComputePreemptions / generated, (double)switches.ComputeWaits / generated, (double)switches.OtherSwitches / generated),
            TransferSeconds = runtime.Transfers.TotalSeconds - transferBefore,
            Layout = runtime.Layout.ToString(),
        };
    }

    private async Task<Result> One(BenchRequest r, CancellationToken cancel)
    {
        var request = new Generate
        {
            RequestId = $"bench-{r.Index}",
            PromptTokens = r.Prompt,
            MaxTokens = r.MaxTokens,
            Sampling = new SamplingOptions { Temperature = 0, IgnoreEos = true },
        };
        try
        {
            var result = Dry ? await Unanswered() : await runtime.GenerateAsync(request, cancel);
            return result is null ? new Result(true, null, 0) : new Result(false, result.Completed, result.TokenIds.Count);
        }
        catch (GenerationRejectedException)
        {
            return new Result(true, null, 0);
        }
        finally
        {
            Progress?.Invoke(Interlocked.Increment(ref _finished));
        }
    }

    /// <summary>
    /// Completes 10 ms later with no result, so the caller's wait suspends as on a real request (a yield or a 1 ms
    /// delay could complete on a pool thread before the caller looked on a loaded machine, leaving the path cold).
    /// </summary>
    private static async Task<GenerationResult?> Unanswered()
    {
        await Task.Delay(10);
        return null;
    }

    private Dictionary<string, double> _forward = new();
    private readonly Dictionary<string, int> _threads = runtime.Devices.ToDictionary(d => d.Id, d => Math.Max(1, d.Threads));

    private async Task<Dictionary<string, double>> DeviceBusy()
    {
        var result = new Dictionary<string, double>();
        _forward = new Dictionary<string, double>();
        foreach (var (id, actor) in runtime.DeviceActors)
        {
            var stats = await actor.Ask<DeviceStats>(GetDeviceStats.Instance, TimeSpan.FromSeconds(30));
            result[id] = stats.BusySeconds;
            _forward[id] = stats.ForwardSeconds;
        }
        return result;
    }
}
