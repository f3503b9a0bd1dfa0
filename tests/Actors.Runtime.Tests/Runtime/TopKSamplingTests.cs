using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Inference.Synthetic;
using Actors.Runtime.Configuration;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// actors-runtime.top-k-sampling: greedy and top-k-sampling steps take each row's best tokens from the last stage's
/// top-k instead of its logits, and a user gets exactly the tokens and finish reasons of the whole-logits path —
/// batched, stopped by stop tokens or max tokens, in a 2-stage pipeline, seeded draws among the k best, and in a
/// batch where one sequence needs its logits.
/// </summary>
public sealed class TopKSamplingTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static List<Generate> Requests(int count, ulong seed)
    {
        var rng = new DeterministicRandom(seed);
        return Enumerable.Range(0, count).Select(i => new Generate
        {
            RequestId = $"g{i}",
            PromptTokens = Enumerable.Range(0, 3 + rng.NextInt(40)).Select(_ => 3 + rng.NextInt(300)).ToArray(),
            MaxTokens = 6 + rng.NextInt(20),
            Sampling = SamplingOptions.Greedy,
        }).ToList();
    }

    private sealed record Run(List<Outcome> Outcomes, List<CountingDevice> Devices)
    {
        public long TopKSteps => Devices.Sum(d => d.TopKSteps);
        public long LogitSteps => Devices.Sum(d => d.LogitSteps);
        public long LogitBytes => Devices.Sum(d => d.LogitBytes);
        public long TopKBytes => Devices.Sum(d => d.TopKBytes);
    }

    private Run RunAll(IReadOnlyList<Generate> requests, bool topK, int pipeline = 1, string extra = "")
    {
        var devices = new List<CountingDevice>();
        var setup = new RuntimeSetup
        {
            DeviceFactories = new Dictionary<DeviceKind, DeviceFactory> { [DeviceKind.Cpu] = o => { var d = new CountingDevice(o.Id); lock (devices) devices.Add(d); return d; } },
        };
        string deviceList = string.Join(", ", Enumerable.Range(0, pipeline).Select(i => $"{{ id = \"cpu:{i}\", kind = cpu, threads = 1 }}"));
        using var h = new RuntimeHarness(RuntimeFixture.Config($$"""
            actors-runtime {
              warm-up = off
              top-k-sampling = {{(topK ? "on" : "off")}}
              devices = [ {{deviceList}} ]
              layout.pipeline = {{pipeline}}
            }
            {{extra}}
            """), setup, name: topK ? "top-k" : "logits");
        var outcomes = h.RunConcurrently(requests, this);
        h.AwaitAllBlocksFree(this);
        foreach (var o in outcomes) Assert.True(o.Completed is not null, $"{o.RequestId} was rejected: {o.Rejected}");
        return new Run(outcomes, devices);
    }

    private static void AssertSameOutput(Run expected, Run actual)
    {
        for (int i = 0; i < expected.Outcomes.Count; i++)
        {
            Assert.Equal(expected.Outcomes[i].Tokens, actual.Outcomes[i].Tokens);
            Assert.Equal(expected.Outcomes[i].Completed!.Reason, actual.Outcomes[i].Completed!.Reason);
        }
    }

    /// <summary>Half the requests also stop at a token they produce halfway (found by a first run), so both finish reasons occur.</summary>
    private List<Generate> WithStops(List<Generate> requests)
    {
        var first = RunAll(requests, topK: false);
        return requests.Select((r, i) => i % 2 == 1 || first.Outcomes[i].Tokens.Count < 4 ? r
            : r with { Sampling = r.Sampling with { StopTokenIds = [first.Outcomes[i].Tokens[first.Outcomes[i].Tokens.Count / 2]] } }).ToList();
    }

    [Fact]
    public void Greedy_batches_decided_from_the_top_k_give_the_tokens_and_finish_reasons_of_whole_logits()
    {
        var requests = WithStops(Requests(8, seed: 31));
        var logits = RunAll(requests, topK: false);
        var topK = RunAll(requests, topK: true);
        AssertSameOutput(logits, topK);
        Assert.Contains(topK.Outcomes, o => o.Completed!.Reason == FinishReason.Stop);
        Assert.Contains(topK.Outcomes, o => o.Completed!.Reason == FinishReason.Length);
        Assert.Equal(0, logits.TopKSteps);
        Assert.Equal(0, topK.LogitSteps); // every step was greedy: no logit row left the stage
        Assert.True(topK.TopKSteps > 0);
        // Per row: 8 bytes (k = 1) instead of 4 per vocabulary entry.
        Assert.Equal(logits.LogitBytes / (4 * 320), topK.TopKBytes / 8);
    }

    [Fact]
    public void A_two_stage_pipeline_returns_top_k_rows_from_its_last_stage_with_the_same_tokens()
    {
        var requests = Requests(6, seed: 43);
        var logits = RunAll(requests, topK: false, pipeline: 2);
        var topK = RunAll(requests, topK: true, pipeline: 2);
        AssertSameOutput(logits, topK);
        Assert.Equal(0, topK.LogitSteps);
        Assert.True(topK.TopKSteps > 0);
    }

    [Fact]
    public void Seeded_top_k_sampling_beside_greedy_draws_the_tokens_of_whole_logits_from_the_rows_top_k()
    {
        var requests = Requests(8, seed: 71).Select((r, i) => i % 2 == 0 ? r
            : r with { Sampling = new SamplingOptions { Temperature = 0.9f + 0.1f * i, TopK = 8 * i, TopP = i == 3 ? 0.8f : 1f, MinP = i == 5 ? 0.05f : 0f, Seed = (ulong)(100 + i) } }).ToList();
        var logits = RunAll(requests, topK: false);
        var topK = RunAll(requests, topK: true);
        AssertSameOutput(logits, topK);
        Assert.Equal(0, topK.LogitSteps);
        Assert.True(topK.TopKSteps > 0);
    }

    [Fact]
    public void Non_finite_logits_end_a_greedy_sequence_with_an_error_on_the_top_k_path_too()
    {
        // Every step has one row of NaN logits (fault injection): each request ends with the sampler's error, none hangs.
        var requests = Requests(4, seed: 5);
        var run = RunAll(requests, topK: true, extra: "actors-runtime.fault-injection { enabled = on, nan-logits-rate = 1 }");
        Assert.True(run.TopKSteps > 0);
        Assert.Contains(run.Outcomes, o => o.Completed!.Reason == FinishReason.Error);
        foreach (var o in run.Outcomes.Where(o => o.Completed!.Reason == FinishReason.Error))
            Assert.Contains("invalid logits", o.Completed!.Error);
    }

    [Fact]
    public void A_sequence_that_needs_its_logits_takes_whole_rows_for_its_steps_and_the_others_keep_their_tokens()
    {
        var requests = Requests(6, seed: 57);
        // The one with log-probabilities ends early, so later steps are all greedy again.
        requests[2] = requests[2] with { MaxTokens = 3, Sampling = SamplingOptions.Greedy with { LogProbs = true } };
        var logits = RunAll(requests, topK: false);
        var topK = RunAll(requests, topK: true);
        AssertSameOutput(logits, topK);
        Assert.True(topK.LogitSteps > 0, "the steps with the log-probability request returned whole rows");
        Assert.True(topK.TopKSteps > 0, "the steps after it returned top-k rows");
    }
}
