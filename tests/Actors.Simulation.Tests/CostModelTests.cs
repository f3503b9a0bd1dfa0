using Actors.Inference.Compute;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;
using Xunit;

namespace Actors.Simulation.Tests;

public class CostModelTests
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;
    private static readonly ModelCatalog Models = ModelCatalog.Default;
    private static readonly RooflineCostModel Cost = new();

    [Fact]
    public void Llama2_7b_f16_weights_on_a_3090_take_14_4_ms_before_efficiency()
    {
        // shared/reference A5: 13.48 GB / 936 GB/s = 14.4 ms.
        var ideal = Hw.Gpu("rtx-3090").Ideal();
        double bytes = Models.Model("llama-2-7b").WeightBytes(Models.Format("F16"));
        Assert.Equal(0.0144, RooflineCostModel.OperationSeconds(ideal, bytes, 0), 0.0001);
    }

    [Fact]
    public void Operation_time_is_the_slower_of_memory_and_compute_plus_launches()
    {
        var g = Hw.Gpu("rtx-3090");
        double memory = 1e9 / (936e9 * g.MemoryEfficiency);
        double compute = 10e12 / (71e12 * g.ComputeEfficiency);
        Assert.Equal(memory + 3 * g.LaunchOverheadSeconds, RooflineCostModel.OperationSeconds(g, 1e9, 1e9, 3), 12);
        Assert.Equal(compute + g.LaunchOverheadSeconds, RooflineCostModel.OperationSeconds(g, 1e9, 10e12), 12);
    }

    [Fact]
    public void Batch_1_decode_step_of_7b_f16_reads_every_weight_but_the_embedding_table()
    {
        var ideal = Hw.Gpu("rtx-3090").Ideal();
        var m = Models.Model("llama-2-7b");
        var step = Cost.StageStep(m, Models.Format("F16"), new LayerRange(0, 32), true, true, BatchShape.Decode(1, 1), ideal);
        // Hand count: 32 layers x (4·4096² + 3·4096·11008) weights + 32000·4096 head, 2 bytes each.
        double weightBytes = 2.0 * (32 * (4.0 * 4096 * 4096 + 3.0 * 4096 * 11008) + 32000.0 * 4096);
        Assert.Equal(13.2142e9, weightBytes, 0.0001e9);
        Assert.Equal(weightBytes / 936e9, step.TotalSeconds, weightBytes / 936e9 * 0.005);   // ≈ 14.12 ms; activations and KV are < 0.5%
        Assert.Equal(0, step.CollectiveSeconds);
        Assert.Equal(0, step.LaunchSeconds);
    }

    [Fact]
    public void Batching_shares_the_weight_read_so_decode_throughput_grows_with_batch()
    {
        var g = Hw.Gpu("rtx-3090");
        var m = Models.Model("llama-2-7b");
        var f16 = Models.Format("F16");
        double t1 = Cost.StageStep(m, f16, new LayerRange(0, 32), true, true, BatchShape.Decode(1, 512), g).TotalSeconds;
        double t32 = Cost.StageStep(m, f16, new LayerRange(0, 32), true, true, BatchShape.Decode(32, 512), g).TotalSeconds;
        Assert.True(t32 < 2 * t1, $"batch 32 step {t32 * 1e3:F2} ms should be well under twice batch 1 ({t1 * 1e3:F2} ms)");
        Assert.True(32 / t32 > 15 / t1, "batch 32 should give over 15x the tokens/s of batch 1");
    }

    [Fact]
    public void Attention_reads_the_kv_of_every_context_token()
    {
        var ideal = Hw.Gpu("rtx-3090").Ideal();
        var m = Models.Model("llama-2-7b");
        var f16 = Models.Format("F16");
        var shortCtx = Cost.StageStep(m, f16, new LayerRange(0, 32), false, false, BatchShape.Decode(1, 1), ideal);
        var longCtx = Cost.StageStep(m, f16, new LayerRange(0, 32), false, false, BatchShape.Decode(1, 4097), ideal);
        // A5: at 4096 context 7B reads 2 GiB of KV (512 KiB per token): ~2.3 ms more on a 3090.
        double extra = longCtx.TotalSeconds - shortCtx.TotalSeconds;
        Assert.Equal(4096 * 512.0 * 1024 / 936e9, extra, 0.00001);
    }

    [Fact]
    public void Prefill_is_compute_bound_at_2_matmul_flops_per_weight_per_token()
    {
        var ideal = Hw.Gpu("rtx-3090").Ideal();
        var m = Models.Model("llama-2-7b");
        var step = Cost.StageStep(m, Models.Format("F16"), new LayerRange(0, 32), false, false, BatchShape.Prefill(2048), ideal);
        double matmulFlops = 2.0 * 32 * m.MatrixWeightsPerLayer * 2048;
        Assert.Equal(matmulFlops / 71e12, step.MatmulSeconds, 1e-6);                 // 26.5 TFLOP: 374 ms
        double pairs = 2048.0 * 2049 / 2;
        Assert.Equal(4 * pairs * 4096 * 32 / 71e12, step.AttentionSeconds, 1e-6);     // causal QKᵀ and PV
    }

    [Fact]
    public void Ring_all_reduce_follows_the_alpha_beta_formula()
    {
        // 2(N−1)α + 2(N−1)/N · S/β with N=4, S=16 KiB, α=10 µs, β=25 GB/s.
        double t = Collectives.RingAllReduceSeconds(4, 16384, 10e-6, 25e9);
        Assert.Equal(60e-6 + 1.5 * 16384 / 25e9, t, 12);
        Assert.Equal(0, Collectives.RingAllReduceSeconds(1, 1e9, 1, 1));
        // Two-shot on an all-to-all fabric: the same bytes in two latency steps.
        Assert.Equal(20e-6 + 1.5 * 16384 / 25e9, Collectives.TwoShotAllReduceSeconds(4, 16384, 10e-6, 25e9), 12);
        // For two devices the ring already is two steps.
        Assert.Equal(Collectives.RingAllReduceSeconds(2, 8192, 5e-6, 40e9), Collectives.TwoShotAllReduceSeconds(2, 8192, 5e-6, 40e9), 15);
    }

    [Fact]
    public void Tensor_parallel_step_halves_weights_and_adds_two_all_reduces_per_layer()
    {
        var ideal = Hw.Gpu("rtx-3090").Ideal();
        var nv = Hw.Link("rtx3090-nvlink");
        var m = Models.Model("llama-2-7b");
        var f16 = Models.Format("F16");
        var layers = new LayerRange(0, 32);
        var one = Cost.StageStep(m, f16, layers, false, false, BatchShape.Decode(1, 1), ideal);
        var two = Cost.StageStep(m, f16, layers, false, false, BatchShape.Decode(1, 1), ideal, 2, nv);
        Assert.Equal(one.MatmulSeconds / 2, two.MatmulSeconds, one.MatmulSeconds * 0.002);
        double alpha = nv.LatencySeconds + Cost.Options.CollectiveStepOverheadSeconds;
        double perAllReduce = 2 * alpha + 4096 * 2 / nv.EffectiveDuplexBandwidth;   // N = 2
        Assert.Equal(64 * perAllReduce, two.CollectiveSeconds, 1e-12);
    }

    [Fact]
    public void Link_transfer_is_latency_plus_bytes_over_achieved_bandwidth()
    {
        var staged = Hw.Link("host-staged-pcie4");
        Assert.Equal(15.23e-6 + 16384 / 11.28e9, RooflineCostModel.TransferSeconds(staged, 16384), 12);
        var nv = Hw.Link("rtx3090-nvlink");
        Assert.Equal(1.5e-6 + 1e9 / (56.25e9 * 0.8), nv.TransferSeconds(1_000_000_000), 12);
        // Both directions busy: host-staged copies share 16.77 GB/s, so 8.4 GB/s each.
        Assert.Equal(16.77e9 / 2, staged.EffectiveDuplexBandwidth, 1);
    }

    [Fact]
    public void Pipeline_boundary_moves_hidden_size_times_activation_bytes_per_token()
    {
        Assert.Equal(8192, Cost.BoundaryBytes(Models.Model("llama-2-7b"), 1));                  // 8 KiB at F16
        Assert.Equal(32768, new RooflineCostModel(new RooflineOptions { ActivationBytes = 4 }).BoundaryBytes(Models.Model("llama-2-70b"), 1));
    }

    [Fact]
    public void Calibration_against_llama_cpp_on_a_3090_is_within_20_percent()
    {
        // llama.cpp PR #4766 (RTX 3090, batch 1): 7B F16 tg128 48.5 t/s, Q4_0 121.8 t/s, F16 pp512 4185 t/s.
        var g = Hw.Gpu("rtx-3090");
        var m = Models.Model("llama-2-7b");
        var all = new LayerRange(0, 32);
        double f16 = 1 / Cost.StageStep(m, Models.Format("F16"), all, true, true, BatchShape.Decode(1, 64), g).TotalSeconds;
        double q40 = 1 / Cost.StageStep(m, Models.Format("Q4_0"), all, true, true, BatchShape.Decode(1, 64), g).TotalSeconds;
        double pp = 512 / Cost.StageStep(m, Models.Format("F16"), all, true, true, BatchShape.Prefill(512), g).TotalSeconds;
        Assert.InRange(f16, 48.5 * 0.9, 48.5 * 1.2);
        Assert.InRange(q40, 121.8 * 0.9, 121.8 * 1.25);
        Assert.InRange(pp, 4185 * 0.8, 4185 * 1.2);
    }
}
