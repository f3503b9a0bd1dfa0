using System.Text.Json;
using Actors.Simulation.Catalog;
using Actors.Simulation.Planning;
using Xunit;

namespace Actors.Simulation.Tests;

public class PlannerTests
{
    private static readonly HardwareCatalog Hw = HardwareCatalog.Default;
    private static readonly ModelCatalog Mc = ModelCatalog.Default;

    private static PlanRequest Request(string model, string format, string topology, int concurrency = 32, int prompt = 512, int output = 256)
        => new(Mc.Model(model), Mc.Format(format), Topology.Parse(Hw, topology), Workload.Fixed(concurrency, prompt, output));

    private static double Gain(double with, double without) => with / without - 1;

    [Fact]
    public void Llama_7b_q4_fits_on_one_3090()
    {
        var plan = Planner.Plan(Request("llama-2-7b", "Q4_K_M", "1x rtx-3090", concurrency: 8));
        Assert.NotNull(plan.Recommended);
        Assert.Equal("tp1 pp1 x1", plan.Recommended!.Layout);
        Assert.True(plan.Recommended.MemoryPerDeviceGb < 10);
        Assert.InRange(plan.Recommended.PerSequenceTokensPerSecond, 40, 160);
    }

    [Fact]
    public void Llama_70b_f16_does_not_fit_on_four_3090s_and_says_by_how_much()
    {
        var plan = Planner.Plan(Request("llama-2-70b", "F16", "4x rtx-3090", concurrency: 8));
        Assert.Null(plan.Recommended);
        Assert.All(plan.Layouts, l => Assert.False(l.Fits));
        var pp4 = plan.Layouts.Single(l => l.Layout == "tp1 pp4 x1");
        // 138 GB of weights over 4 stages is 34.5 GB per card against 25.2 GB usable.
        Assert.InRange(pp4.ShortfallGbPerDevice, 9, 13);
        Assert.Contains("short by", pp4.Note);
        Assert.Contains("GB per device", pp4.Note);
        Assert.Contains("nothing fits", plan.Summary);
    }

    [Fact]
    public void Nvlink_pairs_barely_change_pipeline_parallel_decode()
    {
        foreach (var layout in new[] { Layout.Parse("tp1 pp4 x1"), Layout.Parse("tp1 pp2 x2") })
        {
            var pcie = Planner.Estimate(Request("llama-2-13b", "F16", "4x rtx-3090", 16), layout);
            var nv = Planner.Estimate(Request("llama-2-13b", "F16", "4x rtx-3090 nvlink=0-1,2-3", 16), layout);
            Assert.InRange(Gain(nv.DecodeTokensPerSecond, pcie.DecodeTokensPerSecond), -0.001, 0.01);
            Assert.True(pcie.InterconnectShare < 0.01, $"{layout}: boundary transfers are {pcie.InterconnectShare:P2} of a pass");
        }
    }

    [Fact]
    public void Nvlink_pairs_change_tensor_parallel_decode_a_little_and_prefill_a_lot()
    {
        var tp2 = Layout.Parse("tp2 pp1 x2");
        var staged = Planner.Estimate(Request("llama-2-13b", "F16", "4x rtx-3090", 16), tp2);
        var p2p = Planner.Estimate(Request("llama-2-13b", "F16", "4x rtx-3090 pcie=pcie4-x16", 16), tp2);
        var nv = Planner.Estimate(Request("llama-2-13b", "F16", "4x rtx-3090 nvlink=0-1,2-3", 16), tp2);
        // Decode: a few % against PCIe P2P; more against host-staged copies (club-3090: +25% for one user).
        Assert.InRange(Gain(nv.DecodeTokensPerSecond, p2p.DecodeTokensPerSecond), 0.0, 0.06);
        Assert.InRange(Gain(nv.DecodeTokensPerSecond, staged.DecodeTokensPerSecond), 0.05, 0.40);
        // Prefill moves T·h bytes per all-reduce: the fact check's +30-50% against host-staged PCIe.
        Assert.InRange(Gain(nv.PrefillTokensPerSecond, staged.PrefillTokensPerSecond), 0.25, 0.60);
        Assert.True(nv.TtftMsP50 < staged.TtftMsP50);
    }

    [Fact]
    public void Same_request_gives_the_same_plan()
    {
        var a = Planner.ToJson(Planner.Plan(Request("llama-2-70b", "Q4_K_M", "4x rtx-3090 nvlink=0-1,2-3", 8)).Layouts);
        var b = Planner.ToJson(Planner.Plan(Request("llama-2-70b", "Q4_K_M", "4x rtx-3090 nvlink=0-1,2-3", 8)).Layouts);
        Assert.Equal(a, b);
    }

    [Fact]
    public void Json_uses_the_documented_field_names()
    {
        var plan = Planner.Plan(Request("llama-2-7b", "F16", "4x rtx-3090"));
        using var doc = JsonDocument.Parse(Planner.ToJson([plan.Recommended!]));
        var row = doc.RootElement[0];
        foreach (var field in new[] { "decode_tokens_per_second", "prefill_tokens_per_second", "ttft_ms_p50", "itl_ms_p50", "interconnect_share", "layout" })
            Assert.True(row.TryGetProperty(field, out _), field);
        Assert.Equal("analytic", row.GetProperty("method").GetString());
    }

    [Fact]
    public void Layouts_cover_pipeline_replicas_both_and_tensor_parallel()
    {
        var names = Planner.Layouts(Mc.Model("llama-2-7b"), Topology.Parse(Hw, "4x rtx-3090")).Select(l => l.ToString()).ToArray();
        Assert.Contains("tp1 pp1 x4", names);
        Assert.Contains("tp1 pp4 x1", names);
        Assert.Contains("tp1 pp2 x2", names);
        Assert.Contains("tp2 pp1 x2", names);
        Assert.Contains("tp4 pp1 x1", names);
        // 232 heads and 8 KV heads: TP 8 is allowed on an 8-GPU box, TP 3 never.
        var big = Planner.Layouts(Mc.Model("falcon-180b-like"), Topology.Parse(Hw, "8x h100-sxm nvswitch"));
        Assert.Contains(big, l => l.TensorParallel == 8);
        Assert.DoesNotContain(big, l => l.TensorParallel == 3);
    }

    [Fact]
    public void Larger_batches_raise_throughput_and_latency()
    {
        var small = Planner.Estimate(Request("llama-2-7b", "F16", "4x rtx-3090", 4), Layout.Parse("tp1 pp1 x4"));
        var large = Planner.Estimate(Request("llama-2-7b", "F16", "4x rtx-3090", 64), Layout.Parse("tp1 pp1 x4"));
        Assert.True(large.DecodeTokensPerSecond > 5 * small.DecodeTokensPerSecond);
        Assert.True(large.ItlMsP50 > small.ItlMsP50);
    }

    [Fact]
    public void Most_precise_fitting_format_for_the_articles_models()
    {
        var formats = new[] { "F16", "Q8_0", "Q6_K", "Q4_K_M", "Q4_0", "Q3_K", "Q2_K" }.Select(Mc.Format).ToArray();
        string Need(string model, int batch) => Planner.MostPreciseFittingFormat(Request(model, "F16", "4x rtx-3090", batch), formats)!.Value.Format.Name;
        Assert.Equal("F16", Need("llama-2-7b", 32));
        Assert.Equal("F16", Need("llama-2-13b", 16));
        Assert.Equal("Q8_0", Need("llama-2-70b", 8));
        Assert.Equal("Q3_K", Need("falcon-180b-like", 4));
    }

    [Fact]
    public void Compare_lines_variants_up_in_order_and_plots_them()
    {
        var rows = Planner.Compare(
        [
            new ComparisonVariant("7B / PCIe only", Request("llama-2-7b", "F16", "4x rtx-3090"), Layout.Parse("tp1 pp4 x1")),
            new ComparisonVariant("7B / NVLink pairs", Request("llama-2-7b", "F16", "4x rtx-3090 nvlink=0-1,2-3"), Layout.Parse("tp1 pp4 x1")),
            new ComparisonVariant("70B F16 / PCIe only", Request("llama-2-70b", "F16", "4x rtx-3090", 8)),
        ]);
        Assert.Equal(["7B / PCIe only", "7B / NVLink pairs", "70B F16 / PCIe only"], rows.Select(r => r.Label));
        Assert.False(rows[2].Estimate.Fits);
        string table = PlanTable.Format(rows, markdown: true);
        Assert.Contains("| 7B / NVLink pairs", table);
        string svg = ComparisonSvg.Render(rows, "decode tokens/s", e => e.DecodeTokensPerSecond, "tokens/s");
        Assert.StartsWith("<svg", svg);
        Assert.Equal(3, svg.Split("<rect x=").Length - 1 - 2);   // three bars plus two legend swatches
        Assert.Contains("n/a", svg);                            // the layout that does not fit
        Assert.Contains("NVLink pairs", svg);
    }

    [Fact]
    public void Datacentre_boxes_fit_70b_f16_and_nvswitch_makes_tensor_parallel_cheap()
    {
        var h100 = Planner.Plan(Request("llama-2-70b", "F16", "8x h100-sxm nvswitch", 64));
        Assert.NotNull(h100.Recommended);
        Assert.True(h100.Recommended!.TensorParallel >= 2);
        var tp8 = h100.Layouts.Single(l => l.Layout == "tp8 pp1 x1");
        Assert.True(tp8.Fits);
        Assert.True(tp8.InterconnectShare < 0.25, $"NVSwitch TP=8 spends {tp8.InterconnectShare:P1} in all-reduces");
        // One H200 (141 GB) holds 70B at Q8_0 on its own.
        var h200 = Planner.Plan(Request("llama-2-70b", "Q8_0", "1x h200", 8));
        Assert.Equal("tp1 pp1 x1", h200.Recommended!.Layout);
    }
}
