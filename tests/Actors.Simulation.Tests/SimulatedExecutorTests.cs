using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;
using Xunit;

namespace Actors.Simulation.Tests;

public class SimulatedExecutorTests
{
    private static readonly ModelShape Llama7b = ModelCatalog.Default.Model("llama-2-7b");
    private static readonly WeightFormat F16 = ModelCatalog.Default.Format("F16");
    private static readonly GpuSpec Rtx3090 = HardwareCatalog.Default.Gpu("rtx-3090");

    private static KvCacheSpec Kv(int blocks = 64, int layersShare = 1) => new(16, blocks, 32 / layersShare, 128, KvCacheType.F16);

    /// <summary>Decode batch: sequence s has context 10+s, its one new token at position 9+s, blocks 2s and 2s+1.</summary>
    private static StepBatch DecodeBatch(int sequences, int tokenBase = 100)
    {
        var b = new StepBatch();
        b.EnsureCapacity(sequences, sequences, 2);
        for (int s = 0; s < sequences; s++)
        {
            int ctx = 10 + s;
            b.Tokens[s] = tokenBase + s;
            b.Positions[s] = ctx - 1;
            b.QueryStart[s] = s;
            b.ContextLength[s] = ctx;
            b.BlockTables[s * 2] = 2 * s;
            b.BlockTables[s * 2 + 1] = 2 * s + 1;
            b.Slots[s] = (2 * s) * 16 + (ctx - 1);
            b.LogitTokens[s] = s;
        }
        b.QueryStart[sequences] = sequences;
        b.TokenCount = sequences;
        b.SequenceCount = sequences;
        b.LogitCount = sequences;
        return b;
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    [Fact]
    public void Identical_batches_produce_identical_logits_and_step_times()
    {
        using var a = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 32), Kv(), Rtx3090);
        using var b = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 32), Kv(), Rtx3090);
        var batch = DecodeBatch(4);
        var outA = new float[4 * 32000];
        var outB = new float[4 * 32000];
        a.Forward(batch, default, outA);
        b.Forward(batch, default, outB);
        Assert.Equal(outA, outB);
        Assert.Equal(a.LastStepSeconds, b.LastStepSeconds);
        double expected = new RooflineCostModel().StageStep(Llama7b, F16, new LayerRange(0, 32), true, true, BatchShape.From(batch), Rtx3090).TotalSeconds;
        Assert.Equal(expected, a.LastStepSeconds);
        Assert.InRange(a.LastStepSeconds, 0.010, 0.030);   // ~20 ms: a 7B F16 decode step on a 3090
    }

    [Theory]
    [InlineData(12, 1)]   // a vocabulary this small: runners-up land on the same ids and on the winner
    [InlineData(12, 12)]
    [InlineData(40, 9)]
    [InlineData(32000, 1)]
    [InlineData(32000, 20)]
    public void The_top_k_of_synthetic_logits_is_the_top_k_of_the_row_they_write(int vocab, int k)
    {
        foreach (var output in new[]
        {
            new SyntheticOutput { Seed = 3 },
            new SyntheticOutput { Seed = 4, EosProbability = 0.5 },
            new SyntheticOutput { Seed = 5, WinnerLogit = -1f },  // the winner below the floor of zeros
            new SyntheticOutput { Seed = 6, WinnerLogit = 0f, RunnersUp = 20 },
        })
            for (int token = 0; token < 30; token++)
            {
                var row = new float[vocab];
                output.WriteLogits(token, 7 * token, row);
                var expected = (new int[k], new float[k]);
                Actors.Inference.Sampling.LogitTopK.Select(row, k, expected.Item1, expected.Item2);
                var actual = (new int[k], new float[k]);
                output.WriteTopK(token, 7 * token, vocab, k, actual.Item1, actual.Item2);
                Assert.Equal(expected.Item1, actual.Item1);
                Assert.Equal(expected.Item2, actual.Item2);
            }
    }

    [Fact]
    public void A_simulated_top_k_step_returns_the_top_k_of_its_logits_at_the_same_step_time()
    {
        using var stage = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 32), Kv(), Rtx3090);
        var batch = DecodeBatch(5);
        var logits = new float[5 * 32000];
        stage.Forward(batch, default, logits);
        double seconds = stage.LastStepSeconds;
        const int k = 3;
        var indices = new int[5 * k];
        var values = new float[5 * k];
        stage.ForwardTopK(batch, default, k, indices, values);
        for (int r = 0; r < 5; r++)
        {
            Assert.Equal(ArgMax(logits.AsSpan(r * 32000, 32000)), indices[r * k]);
            for (int i = 0; i < k; i++) Assert.Equal(logits[r * 32000 + indices[r * k + i]], values[r * k + i]);
        }
        Assert.Equal(seconds, stage.LastStepSeconds);
        Assert.Equal(64, stage.MaxLogitTopK);
    }

    [Fact]
    public void Different_tokens_give_different_samples()
    {
        using var x = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 32), Kv(), Rtx3090);
        var o1 = new float[4 * 32000];
        var o2 = new float[4 * 32000];
        x.Forward(DecodeBatch(4, 100), default, o1);
        x.Forward(DecodeBatch(4, 200), default, o2);
        Assert.NotEqual(o1, o2);
    }

    [Fact]
    public void A_two_stage_pipeline_samples_what_one_stage_does()
    {
        var kv = Kv();
        using var whole = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 32), kv, Rtx3090);
        using var s0 = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 16), kv, Rtx3090);
        using var s1 = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(16, 32), kv, Rtx3090);
        Assert.True(s0.IsFirst && !s0.IsLast && s1.IsLast && !s1.IsFirst);
        var batch = DecodeBatch(3);
        var direct = new float[3 * 32000];
        whole.Forward(batch, default, direct);
        var hidden = new float[3 * 4096];
        s0.Forward(batch, default, hidden);
        var piped = new float[3 * 32000];
        s1.Forward(batch, hidden, piped);
        Assert.Equal(direct, piped);
        // Two half stages cost about one whole one (the head and embedding sit at the ends).
        Assert.Equal(whole.LastStepSeconds, s0.LastStepSeconds + s1.LastStepSeconds, whole.LastStepSeconds * 0.02);
    }

    [Fact]
    public void Eos_frequency_follows_the_configured_mean_output_length()
    {
        var output = SyntheticOutput.WithMeanOutputLength(50, seed: 3);
        var row = new float[32000];
        int eos = 0, n = 20000;
        for (int p = 0; p < n; p++)
            if (output.WriteLogits(1000 + p % 7, p, row) == output.EosTokenId) eos++;
        Assert.InRange(eos / (double)n, 0.02 * 0.85, 0.02 * 1.15);
        Assert.Equal(output.WriteLogits(5, 6, row), ArgMax(row));
    }

    [Fact]
    public void Kv_blocks_round_trip_through_read_and_write_and_copy()
    {
        using var x = new SimulatedStageExecutor(Llama7b, F16, new LayerRange(0, 32), Kv(), Rtx3090);
        x.Forward(DecodeBatch(2), default, new float[2 * 32000]);
        Assert.Equal(2 * 16 * 4096 * 2 * 32, x.KvBlockBytes);   // 8 MiB: the true size of a 16-token block
        var bytes = new byte[x.KvBlockBytes];
        x.ReadKvBlock(0, bytes);
        ulong signature = x.BlockSignature(0);
        Assert.NotEqual(0UL, signature);
        x.WriteKvBlock(10, bytes);
        Assert.Equal(signature, x.BlockSignature(10));
        x.CopyKvBlock(2, 11);
        Assert.Equal(x.BlockSignature(2), x.BlockSignature(11));
        var again = new byte[x.KvBlockBytes];
        x.ReadKvBlock(10, again);
        Assert.Equal(bytes, again);
        Assert.Throws<ArgumentOutOfRangeException>(() => x.ReadKvBlock(64, bytes));
    }

    [Fact]
    public void A_stage_that_does_not_fit_names_the_stage_and_both_sizes()
    {
        using var device = new SimulatedDevice("gpu0", Rtx3090);
        var m70 = ModelCatalog.Default.Model("llama-2-70b");
        var kv = new KvCacheSpec(16, 256, 8, 128, KvCacheType.F16);
        var e = Assert.Throws<InsufficientDeviceMemoryException>(() => device.LoadStage(m70, F16, new LayerRange(0, 80), kv, 512));
        Assert.Contains("layers 0-79", e.Message);
        Assert.Contains("llama-2-70b", e.Message);
        Assert.Contains("GB", e.Message);
        Assert.True(e.NeededBytes > 130e9);
        Assert.Equal(Rtx3090.UsableBytes, e.AvailableBytes);
    }

    [Fact]
    public void Stages_take_memory_until_disposed()
    {
        using var device = new SimulatedDevice("gpu0", Rtx3090);
        var q4 = ModelCatalog.Default.Format("Q4_K_M");
        var first = device.LoadStage(Llama7b, q4, new LayerRange(0, 32), Kv(512), 2048);
        // 4.08 GB of Q4_K_M weights + 512 KV blocks of 8 MiB (4.29 GB) + ~0.5 GB workspace for 2048 tokens.
        Assert.InRange(device.AllocatedBytes, 8.5e9, 9.5e9);
        first.Dispose();
        Assert.Equal(0, device.AllocatedBytes);
    }

    [Fact]
    public void A_model_with_weights_loads_by_its_shape_and_file_sizes()
    {
        var spec = new SyntheticModelSpec { WeightType = "Q8_0", Dim = 64, Heads = 4, KvHeads = 2, Ffn = 128, Vocab = 320, Layers = 2 };
        string dir = Path.Combine(Path.GetTempPath(), "actors-sim-tests");
        Directory.CreateDirectory(dir);
        using var model = LlamaModel.Open(SyntheticModelGenerator.EnsureCached(spec, dir));
        using var device = new SimulatedDevice("sim0", Rtx3090);
        var kv = new KvCacheSpec(16, 8, 2, 16, KvCacheType.F32);
        using var stage = device.LoadStage(model, new LayerRange(0, 2), kv, 64);
        var sim = Assert.IsType<SimulatedStageExecutor>(stage);
        Assert.Equal(8.5, sim.Weights.BitsPerWeight, 6);
        Assert.Equal(320, stage.VocabSize);
    }
}
