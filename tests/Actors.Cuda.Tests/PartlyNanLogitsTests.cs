using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Sampling;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// A model whose logit rows are partly NaN (<see cref="NanHeadModel"/>): the last stage's top-k reports the NaN
/// first on the CPU, which GpuStageTests then asks of the CUDA stage; this half runs without a GPU, so the GPU test
/// cannot pass on rows that hold no NaN.
/// </summary>
public class PartlyNanLogitsTests
{
    /// <summary>A prefill of two sequences with a logit for every token.</summary>
    internal static StepBatch Batch(KvCacheSpec kv, int vocab) =>
        Reference.Batch(new Random(3), kv, newTokens: [5, 2], contexts: [5, 2], vocab, allLogits: true);

    [Fact]
    public void A_NaN_head_weight_gives_partly_NaN_rows_whose_cpu_top_k_reports_that_token_first()
    {
        using var m = new NanHeadModel(seed: 17);
        var c = m.Model.Config;
        var kv = new KvCacheSpec(16, 8, c.HeadCountKv, c.HeadDim);
        using var device = new CpuDevice(threads: 1);
        using var stage = device.LoadStage(m.Model, new LayerRange(0, c.BlockCount), kv, maxBatchTokens: 16);
        var batch = Batch(kv, c.VocabSize);
        var logits = new float[batch.LogitCount * c.VocabSize];
        stage.Forward(batch, default, logits);
        const int k = 5;
        var indices = new int[batch.LogitCount * k];
        var values = new float[batch.LogitCount * k];
        stage.ForwardTopK(batch, default, k, indices, values);
        for (int r = 0; r < batch.LogitCount; r++)
        {
            var row = logits.AsSpan(r * c.VocabSize, c.VocabSize);
            Assert.True(float.IsNaN(row[m.NanToken]), $"row {r}: logit of token {m.NanToken} is {row[m.NanToken]}, not NaN");
            Assert.Equal(c.VocabSize - 1, CountWhere(row, float.IsFinite));
            Assert.All(indices.AsSpan(r * k, k).ToArray(), i => Assert.Equal(m.NanToken, i));
            Assert.All(values.AsSpan(r * k, k).ToArray(), v => Assert.True(float.IsNaN(v)));
            var e = Assert.Throws<ArgumentException>(() => new Sampler(SamplingParameters.Greedy, c.VocabSize).SampleFromTop(indices.AsSpan(r * k, 1), values.AsSpan(r * k, 1)));
            Assert.Contains($"logit of token {m.NanToken} is NaN", e.Message);
        }
    }

    internal static int CountWhere(ReadOnlySpan<float> row, Func<float, bool> match)
    {
        int n = 0;
        foreach (float v in row) if (match(v)) n++;
        return n;
    }
}
