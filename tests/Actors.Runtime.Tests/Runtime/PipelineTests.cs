using Akka.TestKit.Xunit2;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// Pipeline stages on separate CPU devices and data-parallel replicas give the same greedy tokens
/// and log-probabilities as one device, and the same logits when run as a bare stage chain.
/// </summary>
public sealed class PipelineTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static string Devices(int n) =>
        "actors-runtime.devices = [ " + string.Join(", ", Enumerable.Range(0, n).Select(i => $"{{ id = \"cpu:{i}\", kind = cpu, threads = 1 }}")) + " ]";

    private static List<Generate> Requests()
    {
        var rng = new DeterministicRandom(9);
        return Enumerable.Range(0, 6).Select(i => new Generate
        {
            RequestId = $"p{i}",
            PromptTokens = Enumerable.Range(0, 5 + rng.NextInt(30)).Select(_ => 3 + rng.NextInt(300)).ToArray(),
            MaxTokens = 10 + rng.NextInt(20),
            Sampling = SamplingOptions.Greedy with { IgnoreEos = true, LogProbs = true },
        }).ToList();
    }

    private static List<(List<int> Tokens, List<float> LogProbs)>? s_reference;

    private List<(List<int> Tokens, List<float> LogProbs)> Run(string config)
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config(config), name: "pipeline");
        var probes = Requests().Select(_ => CreateTestProbe(h.System)).ToList();
        var requests = Requests();
        for (int i = 0; i < requests.Count; i++) h.Runtime.Router.Tell(requests[i], probes[i].Ref);
        var result = new List<(List<int>, List<float>)>();
        for (int i = 0; i < requests.Count; i++)
        {
            var tokens = new List<int>();
            var logprobs = new List<float>();
            while (true)
            {
                var msg = probes[i].ExpectMsg<object>(TimeSpan.FromSeconds(60));
                if (msg is TokenChunk c) { tokens.AddRange(c.TokenIds); if (c.LogProbs != null) logprobs.AddRange(c.LogProbs); }
                else { Assert.IsType<GenerationCompleted>(msg); break; }
            }
            result.Add((tokens, logprobs));
        }
        h.AwaitAllBlocksFree(this, 0);
        return result;
    }

    [Theory]
    [InlineData(2, 1)]
    [InlineData(3, 1)]
    [InlineData(4, 1)]
    [InlineData(1, 2)]
    [InlineData(2, 2)]
    public void Pipelines_and_replicas_match_one_device(int pipeline, int replicas)
    {
        var reference = s_reference ??= Run(Devices(1));
        var actual = Run(Devices(pipeline * replicas) + $"\nactors-runtime.layout {{ pipeline = {pipeline}, replicas = {replicas} }}");
        for (int i = 0; i < reference.Count; i++)
        {
            Assert.Equal(reference[i].Tokens, actual[i].Tokens);
            for (int j = 0; j < reference[i].LogProbs.Count; j++)
                Assert.True(Math.Abs(reference[i].LogProbs[j] - actual[i].LogProbs[j]) <= 1e-5 * Math.Max(1, Math.Abs(reference[i].LogProbs[j])),
                    $"request {i} token {j}: log-prob {actual[i].LogProbs[j]} vs {reference[i].LogProbs[j]}");
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void A_stage_chain_gives_the_logits_of_one_stage_within_1e5(int stages)
    {
        using var model = LlamaModel.Open(RuntimeFixture.ModelPath());
        var tokens = Enumerable.Range(0, 30).Select(i => 3 + (i * 37) % 300).ToArray();
        using var one = new CpuDevice("cpu:0", 1);
        using var single = new SequenceRunner(one, model, 64);
        var expected = single.Feed(tokens, allLogits: true);
        var devices = Enumerable.Range(0, stages).Select(i => (IComputeDevice)new CpuDevice($"cpu:{i}", 1)).ToList();
        var ranges = Layout.LayoutPlanner.Split(new Layout.LayerCosts(model.Layers.Select(l => l.ByteSize).ToList(), 0, 0, 0), Enumerable.Repeat(1.0, stages).ToList());
        using var chain = new SequenceRunner(devices.Zip(ranges).ToList(), model, 64);
        var actual = chain.Feed(tokens, allLogits: true);
        double num = 0, den = 0;
        for (int i = 0; i < expected.Length; i++) { num += Math.Pow(actual[i] - expected[i], 2); den += expected[i] * (double)expected[i]; }
        Assert.True(Math.Sqrt(num / den) <= 1e-5, $"relative L2 {Math.Sqrt(num / den):E2}");
        foreach (var d in devices) d.Dispose();
    }
}
