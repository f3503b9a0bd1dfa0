using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Inference.Sampling;
using Actors.Inference.Synthetic;
using Actors.Inference.Tests.Support;
using Xunit;

namespace Actors.Inference.Tests.Sampling;

/// <summary>
/// The top-k a last stage returns instead of its logits: the k largest logits best first, equal values to
/// the smaller id (checked against a full stable sort), k = 1 the sampler's own greedy pick, and the CPU
/// stage's <see cref="IStageExecutor.ForwardTopK"/> the top-k of its own <see cref="IStageExecutor.Forward"/> logits.
/// </summary>
public sealed class LogitTopKTests
{
    /// <summary>Random logits drawn from few distinct values (many ties), with a few -inf.</summary>
    private static float[] TiedLogits(ref DeterministicRandom rng, int length)
    {
        var row = new float[length];
        for (int i = 0; i < length; i++) row[i] = rng.NextInt(10) == 0 ? float.NegativeInfinity : (rng.NextInt(12) - 6) * 0.5f;
        return row;
    }

    private static float[] GaussianLogits(ref DeterministicRandom rng, int length)
    {
        var row = new float[length];
        for (int i = 0; i < length; i++) row[i] = (float)(rng.NextGaussian() * 3 + 0.25);
        return row;
    }

    /// <summary>Every id sorted by value descending, ties by id: the reference order.</summary>
    private static int[] ReferenceOrder(float[] row) =>
        Enumerable.Range(0, row.Length).OrderByDescending(i => row[i]).ThenBy(i => i).ToArray();

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 2)]
    [InlineData(7, 7)]
    [InlineData(37, 5)]
    [InlineData(320, 1)]
    [InlineData(320, 20)]
    [InlineData(4099, 3)]
    [InlineData(32000, 64)]
    public void Select_returns_the_k_largest_best_first_ties_to_the_smaller_id(int length, int k)
    {
        var rng = new DeterministicRandom((ulong)(length * 131 + k));
        foreach (bool tied in new[] { true, false })
        {
            var row = tied ? TiedLogits(ref rng, length) : GaussianLogits(ref rng, length);
            var indices = new int[k];
            var values = new float[k];
            LogitTopK.Select(row, k, indices, values);
            var expected = ReferenceOrder(row)[..k];
            Assert.Equal(expected, indices);
            Assert.Equal(expected.Select(i => row[i]).ToArray(), values);
        }
    }

    [Fact]
    public void Select_of_one_is_the_greedy_samplers_pick_on_rows_with_repeated_maxima()
    {
        var rng = new DeterministicRandom(5);
        var sampler = new Sampler(SamplingParameters.Greedy, 4096);
        var index = new int[1];
        var value = new float[1];
        for (int trial = 0; trial < 50; trial++)
        {
            var row = trial % 2 == 0 ? TiedLogits(ref rng, 4096) : GaussianLogits(ref rng, 4096);
            LogitTopK.Select(row, 1, index, value);
            Assert.Equal(sampler.Sample(row, []), index[0]);
        }
    }

    public static TheoryData<string, SamplingParameters> DecidedByTheirTop() => new()
    {
        { "greedy", SamplingParameters.Greedy },
        { "top-k 40", new SamplingParameters { Temperature = 0.8f, TopK = 40, Seed = 11 } },
        { "top-k 5, top-p 0.8", new SamplingParameters { Temperature = 1.3f, TopK = 5, TopP = 0.8f, Seed = 12 } },
        { "top-k 64, min-p 0.1", new SamplingParameters { Temperature = 0.5f, TopK = 64, MinP = 0.1f, Seed = 13 } },
        { "top-k 1", new SamplingParameters { Temperature = 2f, TopK = 1, Seed = 14 } },
        { "top-k 20 resumed after 7 draws", new SamplingParameters { Temperature = 1f, TopK = 20, TopP = 0.95f, Seed = 15, RandomDraws = 7 } },
    };

    /// <summary>Two samplers of the same seed, one given whole rows, one their top-k: the same token at every step (the generators stay in step).</summary>
    [Theory]
    [MemberData(nameof(DecidedByTheirTop))]
    public void Sampling_from_the_rows_top_k_picks_the_token_sampling_from_the_whole_row_picks(string name, SamplingParameters p)
    {
        const int vocab = 1000;
        var whole = new Sampler(p, vocab);
        var top = new Sampler(p, vocab);
        int k = top.TopKThatDecides;
        Assert.True(k > 0, name);
        var indices = new int[k + 2];
        var values = new float[k + 2];
        var rng = new DeterministicRandom(77);
        for (int step = 0; step < 300; step++)
        {
            var row = step % 3 == 0 ? TiedLogits(ref rng, vocab) : GaussianLogits(ref rng, vocab);
            LogitTopK.Select(row, k + step % 3, indices, values); // a step may carry more than this row needs
            Assert.Equal(whole.Sample(row, []), top.SampleFromTop(indices, values));
        }
    }

    [Fact]
    public void Sampling_from_the_top_k_is_refused_when_the_parameters_read_the_whole_row()
    {
        var sampler = new Sampler(new SamplingParameters { Temperature = 0.8f, TopP = 0.9f }, 100);
        Assert.Equal(0, sampler.TopKThatDecides);
        Assert.Throws<InvalidOperationException>(() => sampler.SampleFromTop([1, 2], [3f, 2f]));
        var greedy = new Sampler(SamplingParameters.Greedy, 100);
        Assert.Throws<ArgumentException>(() => greedy.SampleFromTop([4], [float.NaN]));
        Assert.Throws<ArgumentException>(() => greedy.SampleFromTop([4], [float.NegativeInfinity]));
    }

    [Fact]
    public void A_row_holding_NaN_reports_NaN_first_as_the_sampler_rejects_it()
    {
        var rng = new DeterministicRandom(8);
        var row = GaussianLogits(ref rng, 300);
        row[123] = float.NaN;
        row[200] = float.NaN;
        foreach (int k in new[] { 1, 4 })
        {
            var indices = new int[k];
            var values = new float[k];
            LogitTopK.Select(row, k, indices, values);
            Assert.Equal(123, indices[0]);
            Assert.True(float.IsNaN(values[0]));
        }
        Assert.Throws<ArgumentException>(() => new Sampler(SamplingParameters.Greedy, 300).Sample(row, []));
    }

    [Fact]
    public void Select_refuses_a_k_outside_the_row()
    {
        var row = new float[10];
        Assert.Throws<ArgumentOutOfRangeException>(() => LogitTopK.Select(row, 0, new int[1], new float[1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => LogitTopK.Select(row, 11, new int[11], new float[11]));
    }

    [Fact]
    public void Select_allocates_nothing()
    {
        var rng = new DeterministicRandom(3);
        var row = GaussianLogits(ref rng, 32000);
        var indices = new int[8];
        var values = new float[8];
        LogitTopK.Select(row, 8, indices, values);
        LogitTopK.Select(row, 1, indices, values);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++)
        {
            LogitTopK.Select(row, 8, indices, values);
            LogitTopK.Select(row, 1, indices, values);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void The_cpu_stages_top_k_is_the_top_k_of_its_own_logits(int threads)
    {
        using var model = LlamaModel.Open(TestModels.Path_(TestModels.Gqa("Q8_0")));
        var c = model.Config;
        var kv = new KvCacheSpec(16, 8, c.HeadCountKv, c.HeadDim);
        using var device = new CpuDevice(threads: threads);
        using var stage = device.LoadStage(model, new LayerRange(0, c.BlockCount), kv, maxBatchTokens: 32);
        Assert.True(stage.MaxLogitTopK >= 20);
        var tokens = TestModels.RandomTokens(30, c.VocabSize, 21);
        foreach (var (start, count) in new[] { (0, 29), (29, 1) })
        {
            // Every row of a prefill, then a decode: the same batch twice writes the same KV, so the logits repeat.
            var batch = SequenceBatch.Create(tokens.AsSpan(start, count), start, kv, allLogits: true);
            var logits = new float[batch.LogitCount * c.VocabSize];
            stage.Forward(batch, ReadOnlySpan<float>.Empty, logits);
            foreach (int k in new[] { 1, 5, 20 })
            {
                var indices = new int[batch.LogitCount * k];
                var values = new float[batch.LogitCount * k];
                stage.ForwardTopK(batch, ReadOnlySpan<float>.Empty, k, indices, values);
                for (int r = 0; r < batch.LogitCount; r++)
                {
                    var row = logits.AsSpan(r * c.VocabSize, c.VocabSize).ToArray();
                    var expected = ReferenceOrder(row)[..k];
                    Assert.Equal(expected, indices.AsSpan(r * k, k).ToArray());
                    Assert.Equal(expected.Select(i => row[i]).ToArray(), values.AsSpan(r * k, k).ToArray());
                }
            }
        }
    }

    [Fact]
    public void A_top_k_decode_step_on_the_cpu_allocates_nothing_after_warm_up()
    {
        using var model = LlamaModel.Open(TestModels.Path_(TestModels.Gqa("F16")));
        var c = model.Config;
        var kv = new KvCacheSpec(16, 4, c.HeadCountKv, c.HeadDim);
        using var device = new CpuDevice(threads: 1);
        using var stage = device.LoadStage(model, new LayerRange(0, c.BlockCount), kv, maxBatchTokens: 16);
        var batch = new StepBatch();
        var tokens = TestModels.RandomTokens(40, c.VocabSize, 4);
        var indices = new int[1];
        var values = new float[1];
        SequenceBatch.Create(tokens.AsSpan(0, 12), 0, kv, allLogits: false, batch);
        stage.ForwardTopK(batch, ReadOnlySpan<float>.Empty, 1, indices, values);
        for (int p = 12; p < 34; p++)
        {
            SequenceBatch.Create(tokens.AsSpan(p, 1), p, kv, allLogits: false, batch);
            stage.ForwardTopK(batch, ReadOnlySpan<float>.Empty, 1, indices, values);
        }
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int p = 34; p < 40; p++)
        {
            SequenceBatch.Create(tokens.AsSpan(p, 1), p, kv, allLogits: false, batch);
            stage.ForwardTopK(batch, ReadOnlySpan<float>.Empty, 1, indices, values);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void A_middle_stage_offers_no_top_k()
    {
        using var model = LlamaModel.Open(TestModels.Path_(TestModels.Gqa("F32")));
        var c = model.Config;
        var kv = new KvCacheSpec(16, 4, c.HeadCountKv, c.HeadDim);
        using var device = new CpuDevice(threads: 1);
        using var first = device.LoadStage(model, new LayerRange(0, 1), kv, maxBatchTokens: 16);
        Assert.Equal(0, first.MaxLogitTopK);
        var batch = SequenceBatch.Create(TestModels.RandomTokens(3, c.VocabSize, 1), 0, kv, allLogits: false);
        Assert.Throws<InvalidOperationException>(() => first.ForwardTopK(batch, ReadOnlySpan<float>.Empty, 1, new int[1], new float[1]));
    }
}
