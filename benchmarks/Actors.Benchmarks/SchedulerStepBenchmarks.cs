using Actors.Inference.Compute;
using Actors.Runtime.Scheduling;
using BenchmarkDotNet.Attributes;

namespace Actors.Benchmarks;

/// <summary>
/// One scheduler step in steady state: 256 running sequences decoding and 1,000 waiting behind the
/// running limit. Each invocation is Schedule() + Update() with fake samples; sequences that reach
/// their max tokens are re-submitted (same request objects), so the queue stays at about 1,000 and a
/// step now and then also admits a prompt chunk. Goal: ≤ 100 µs and 0 B allocated per step.
/// </summary>
[MemoryDiagnoser]
public class SchedulerStepBenchmarks
{
    private const int Running = 256;
    private const int Waiting = 1000;

    private SchedulerPolicy _policy = null!;
    private SequenceRequest[] _requests = null!;
    private int[] _sampled = null!;
    private StepBatch _batch = null!;

    [Params(false, true)]
    public bool PrefixCaching { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var settings = new SchedulerSettings
        {
            MaxBatchedTokens = 2048,
            MaxRunningSequences = Running,
            MaxWaiting = Waiting + 64,
            BlockSize = 16,
            NumBlocks = 16_384,
            MaxModelLength = 4096,
            EnableChunkedPrefill = true,
            EnablePrefixCaching = PrefixCaching,
            PreemptionMode = PreemptionMode.Recompute,
            MaxInFlightSteps = 1,
        };
        _policy = new SchedulerPolicy(settings);
        var random = new Random(1);
        var systemPrompt = Enumerable.Range(1, 64).ToArray(); // shared by every request: prefix-cache hits when enabled
        _requests = new SequenceRequest[Running + Waiting];
        for (int i = 0; i < _requests.Length; i++)
        {
            var prompt = systemPrompt.Concat(Enumerable.Range(0, random.Next(32, 448)).Select(_ => random.Next(100, 32_000))).ToArray();
            _requests[i] = new SequenceRequest(i, prompt, MaxNewTokens: random.Next(64, 256), ArrivalTime: TimeSpan.FromTicks(i));
        }
        _sampled = Enumerable.Repeat(42, Running).ToArray();
        _batch = new StepBatch();

        // Fill the running set (prefills), then queue the rest behind it.
        for (int i = 0; i < Running; i++) _policy.TryAdd(_requests[i]);
        for (int i = 0; i < 10_000 && _policy.RunningCount < Running; i++) Step();
        for (int i = Running; i < _requests.Length; i++) _policy.TryAdd(_requests[i]);
        for (int i = 0; i < 500; i++) Step(); // reach the steady mix of decodes and occasional admissions
        if (_policy.RunningCount < Running - 16 || _policy.WaitingCount < Waiting - 16)
            throw new InvalidOperationException($"setup did not reach steady state: {_policy.RunningCount} running, {_policy.WaitingCount} waiting");
    }

    [Benchmark(Description = "Schedule + Update (256 running, 1,000 waiting)")]
    public int ScheduleAndUpdate() => Step();

    [Benchmark(Description = "Schedule + fill StepBatch + Update")]
    public int ScheduleFillAndUpdate()
    {
        var step = _policy.Schedule();
        StepBatchFiller.Fill(step, _batch);
        return Apply(step);
    }

    private int Step() => Apply(_policy.Schedule());

    private int Apply(ScheduledStep step)
    {
        int tokens = step.TotalTokens;
        var result = _policy.Update(step, _sampled.AsSpan(0, step.LogitCount));
        foreach (var finished in result.Finished) _policy.TryAdd(_requests[finished.Id]);
        return tokens;
    }
}
