using Actors.Cuda;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Xunit;

namespace Actors.Cuda.Tests;

public class StageMemoryPlanTests
{
    private static LlamaModel Model(string type = "Q8_0", bool separateOutput = true) => LlamaModel.Open(SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec
    {
        Dim = 64, Layers = 4, Heads = 4, KvHeads = 2, Ffn = 128, Vocab = 320, WeightType = type, SeparateOutput = separateOutput,
    }));

    private static KvCacheSpec Kv(LlamaModel m, int blocks = 32) => new(16, blocks, m.Config.HeadCountKv, m.Config.HeadDim);

    [Fact]
    public void Whole_model_plan_counts_every_weight_once()
    {
        using var m = Model();
        var plan = StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m), 64, new CudaDeviceOptions(), cublas: false);
        Assert.Equal(m.TotalWeightBytes, plan.WeightBytes);
        Assert.Equal(Kv(m).TotalBytes(4), plan.KvBytes);
        Assert.Equal(0, plan.GemmScratchBytes);
        Assert.Equal(0, plan.CublasWorkspaceBytes);
        Assert.Equal(64, plan.LogitChunkRows);
        Assert.Equal(plan.WeightBytes + plan.KvBytes + plan.ActivationBytes + plan.LogitBytes + plan.MetaBytes, plan.TotalBytes);
    }

    [Fact]
    public void Stages_split_weights_embedding_to_the_first_and_head_to_the_last()
    {
        using var m = Model();
        var o = new CudaDeviceOptions();
        var first = StageMemoryPlan.Compute(m, new LayerRange(0, 2), Kv(m), 8, o, false);
        var last = StageMemoryPlan.Compute(m, new LayerRange(2, 4), Kv(m), 8, o, false);
        Assert.Equal(m.TotalWeightBytes, first.WeightBytes + last.WeightBytes);
        Assert.Contains(m.TokenEmbedding, StageMemoryPlan.StageMatrices(m, new LayerRange(0, 2)));
        Assert.DoesNotContain(m.Output, StageMemoryPlan.StageMatrices(m, new LayerRange(0, 2)));
        Assert.Contains(m.Output, StageMemoryPlan.StageMatrices(m, new LayerRange(2, 4)));
        Assert.Equal(0, first.LogitBytes);
        Assert.Equal(Kv(m).TotalBytes(2), first.KvBytes);
    }

    [Fact]
    public void Tied_head_is_uploaded_once_by_a_single_stage()
    {
        using var m = Model(separateOutput: false);
        Assert.Same(m.TokenEmbedding, m.Output);
        Assert.Single(StageMemoryPlan.StageMatrices(m, new LayerRange(0, 4)), w => ReferenceEquals(w, m.TokenEmbedding));
        Assert.Contains(m.Output, StageMemoryPlan.StageMatrices(m, new LayerRange(3, 4)));
    }

    [Fact]
    public void Cublas_adds_f16_scratch_only_for_batches_above_the_matvec_limit()
    {
        using var m = Model();
        var o = new CudaDeviceOptions { MatvecMaxTokens = 8 };
        var small = StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m), 8, o, cublas: true);
        Assert.Equal(0, small.GemmScratchBytes);
        var large = StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m), 64, o, cublas: true);
        Assert.Equal(320L * 64, large.WeightScratchElements); // the largest quantised matrix: the 320 x 64 embedding/head
        Assert.Equal(64L * 128, large.InputScratchElements);   // 64 tokens x the widest input (ffn 128)
        Assert.Equal(2 * (large.WeightScratchElements + large.InputScratchElements), large.GemmScratchBytes);
        Assert.Equal(o.CublasWorkspaceBytes, large.CublasWorkspaceBytes);

        var capped = StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m), 64, o with { GemmWeightScratchBytes = 1 << 20 }, cublas: true);
        Assert.Equal(320L * 64, capped.WeightScratchElements); // 40 KiB fits under the 1 MiB cap

        var firstOnly = StageMemoryPlan.Compute(m, new LayerRange(0, 2), Kv(m), 64, o, cublas: true);
        Assert.Equal(128L * 64, firstOnly.WeightScratchElements); // the embedding is gathered, not multiplied: ffn 128 x 64 is the largest
    }

    [Fact]
    public void Logit_rows_per_pass_are_bounded_by_the_chunk_size()
    {
        using var m = Model();
        var plan = StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m), 4096, new CudaDeviceOptions { LogitChunkBytes = 1 << 20 }, false);
        Assert.Equal((1 << 20) / (4 * 320), plan.LogitChunkRows);
        Assert.Equal(4L * plan.LogitChunkRows * 320, plan.LogitBytes);
    }

    [Fact]
    public void Plan_rejects_a_kv_cache_of_another_shape_and_bad_ranges()
    {
        using var m = Model();
        var o = new CudaDeviceOptions();
        Assert.Contains("does not match", Assert.Throws<ArgumentException>(() => StageMemoryPlan.Compute(m, new LayerRange(0, 4), new KvCacheSpec(16, 8, 4, 16), 8, o, false)).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => StageMemoryPlan.Compute(m, new LayerRange(2, 6), Kv(m), 8, o, false));
        Assert.Throws<ArgumentOutOfRangeException>(() => StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m), 0, o, false));
    }

    [Fact]
    public void Description_breaks_the_total_down()
    {
        using var m = Model();
        string text = StageMemoryPlan.Compute(m, new LayerRange(0, 4), Kv(m, 4096), 64, new CudaDeviceOptions(), false).Describe();
        Assert.Matches(@"^\d+\.\d+ MiB: weights .* KV cache 64\.0 MiB, activations", text);
        Assert.Equal("1.50 GiB", StageMemoryPlan.Size(3L << 29));
    }

    [Fact]
    public void Options_are_validated_with_the_offending_value()
    {
        Assert.Contains("got 0", Assert.Throws<ArgumentOutOfRangeException>(() => new CudaDeviceOptions { MatvecMaxTokens = 0 }.Validate()).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CudaDeviceOptions { LogitChunkBytes = 10 }.Validate());
    }
}
