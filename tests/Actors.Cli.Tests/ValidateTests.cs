using Actors.Cli.Validate;
using Actors.Inference.Compute;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Cli.Tests;

/// <summary>The pure parts of `actors validate`: the step batches it times and the kernels it measures.</summary>
public class ValidateTests
{
    [Fact]
    public void Decode_batches_are_valid_steps_with_one_token_per_sequence()
    {
        var kv = new KvCacheSpec(16, StepShapes.DecodeBlocks(4, 40, 16), 2, 32);
        var batch = StepShapes.Decode(4, 40, kv, vocab: 512);
        batch.Validate(kv, 512); // throws on any inconsistency (slots, positions, block tables)
        Assert.Equal(4, batch.TokenCount);
        Assert.Equal(4, batch.LogitCount);
        var shape = BatchShape.From(batch);
        Assert.All(shape.Sequences, s => Assert.Equal(new SequenceWork(1, 40), s));
        Assert.Throws<ArgumentException>(() => StepShapes.Decode(5, 40, kv, 512));
    }

    [Fact]
    public void A_prefill_chunk_is_one_sequence_with_one_logit_row()
    {
        var kv = new KvCacheSpec(16, 8, 2, 32);
        var batch = StepShapes.Prefill(100, kv, vocab: 512);
        batch.Validate(kv, 512);
        Assert.Equal(100, batch.TokenCount);
        Assert.Equal(1, batch.LogitCount);
    }

    [Fact]
    public void Matmul_kernels_change_only_their_formats_compute_time()
    {
        var model = ModelCatalog.Default.Model("llama-2-7b");
        var q4 = ModelCatalog.Default.Format("Q4_K");
        var f16 = ModelCatalog.Default.Format("F16");
        var cpu = HardwareCatalog.Default.Gpu("cpu-template");
        var faster = cpu with { MatmulKernels = new Dictionary<string, MatmulKernel> { ["Q4_K"] = new(2 * cpu.Fp16Flops, 2 * cpu.Fp16Flops, 4) } };
        var cost = new RooflineCostModel();
        double Prefill(WeightFormat f, GpuSpec d) => cost.StageStep(model, f, new LayerRange(0, 32), true, true, BatchShape.Prefill(512), d).MatmulSeconds;
        Assert.InRange(Prefill(q4, cpu) / Prefill(q4, faster), 1.9, 2.01);
        Assert.Equal(Prefill(f16, cpu), Prefill(f16, faster));
    }
}
