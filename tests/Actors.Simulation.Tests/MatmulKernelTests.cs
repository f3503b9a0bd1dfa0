using Actors.Inference.Compute;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;
using Xunit;

namespace Actors.Simulation.Tests;

/// <summary>A CPU matmul kernel's rates per row length and its first-pass-overlapped time.</summary>
public class MatmulKernelTests
{
    private static readonly MatmulKernel TwoLengths = new(6,
    [
        new MatmulRates(8192, 60e9, 20e9, 20e9),
        new MatmulRates(2048, 100e9, 40e9, 30e9),
    ]);

    [Fact]
    public void Rates_are_interpolated_in_log_row_length_and_clamped_outside_the_measured_ones()
    {
        // 4096 is halfway between 2048 and 8192 in log k.
        var half = TwoLengths.At(4096);
        Assert.Equal(4096, half.RowLength);
        Assert.Equal(80e9, half.TiledFlops, 1);
        Assert.Equal(30e9, half.SingleFlops, 1);
        Assert.Equal(25e9, half.StreamBandwidth, 1);
        // 2048·4^0.25 ≈ 2896: a quarter of the way.
        var quarter = TwoLengths.At(2896);
        Assert.Equal(100e9 - 40e9 * Math.Log(2896.0 / 2048) / Math.Log(4), quarter.TiledFlops, 1);
        Assert.Equal(90e9, quarter.TiledFlops, 0.01e9);
        Assert.Same(TwoLengths.Rates[0], TwoLengths.At(1024));
        Assert.Same(TwoLengths.Rates[0], TwoLengths.At(2048));
        Assert.Same(TwoLengths.Rates[1], TwoLengths.At(11008));
        Assert.Equal(2048, TwoLengths.Rates[0].RowLength); // sorted on construction
    }

    [Fact]
    public void The_scalar_form_holds_for_every_row_length()
    {
        var k = new MatmulKernel(200e9, 50e9, 4, 28e9);
        Assert.Equal(new MatmulRates(0, 200e9, 50e9, 28e9), k.At(11008));
        Assert.Equal(k, new MatmulKernel(4, [new MatmulRates(0, 200e9, 50e9, 28e9)]));
        Assert.Throws<ArgumentException>(() => new MatmulKernel(4, [new MatmulRates(4096, 1, 1), new MatmulRates(4096, 2, 2)]));
    }

    [Fact]
    public void Whole_tiles_run_at_the_tiled_rate_and_the_rest_one_token_at_a_time()
    {
        var kernel = new MatmulKernel(tiledFlops: 200e9, singleFlops: 50e9, tileTokens: 6);
        // 4 tokens: fewer than a tile, all single. 16 tokens: two tiles (12) and 4 single.
        Assert.Equal(2 * 1e6 * 4 / 50e9, kernel.ComputeSeconds(1e6, 4), 15);
        Assert.Equal(2 * 1e6 * (12 / 200e9 + 4 / 50e9), kernel.ComputeSeconds(1e6, 16), 15);
        // At 4096 the interpolated rates: 80 GFLOP/s tiled, 30 single.
        Assert.Equal(2 * 1e6 * (12 / 80e9 + 4 / 30e9), TwoLengths.ComputeSeconds(1e6, 16, 4096), 15);
    }

    [Fact]
    public void The_weight_read_overlaps_only_the_first_pass()
    {
        var kernel = new MatmulKernel(tiledFlops: 200e9, singleFlops: 50e9, tileTokens: 4);
        // 1e6 weights: one token costs 40 µs, one tile of 4 costs 40 µs.
        // 1 token, read 100 µs: the read hides the arithmetic.
        Assert.Equal(100e-6, kernel.Seconds(1e6, 1, 0, 100e-6), 12);
        // 3 tokens (below a tile): the first overlaps the read, the other two add 80 µs.
        Assert.Equal(100e-6 + 80e-6, kernel.Seconds(1e6, 3, 0, 100e-6), 12);
        // 9 tokens: two tiles (80 µs) and one single (40 µs); the first tile (40 µs) hides a 30 µs read.
        Assert.Equal(120e-6, kernel.Seconds(1e6, 9, 0, 30e-6), 12);
        Assert.Equal(50e-6, kernel.Seconds(1e6, 0, 0, 50e-6), 12);
    }

    [Fact]
    public void A_measured_first_tile_from_dram_replaces_the_overlap()
    {
        // 1e6 weights, tiles of 4: a tile from cache 40 µs (200 GFLOP/s); from DRAM 8 MFLOP at 100
        // GFLOP/s = 80 µs (the read and the arithmetic do not overlap on one core).
        var kernel = new MatmulKernel(4, [new MatmulRates(0, 200e9, 50e9, 0, 100e9)]);
        // 4 tokens, read 30 µs: the measured 80 µs, not max(30, 40).
        Assert.Equal(80e-6, kernel.Seconds(1e6, 4, 0, 30e-6), 12);
        // 9 tokens: 80 µs + a second tile from cache 40 µs + one single token 40 µs.
        Assert.Equal(160e-6, kernel.Seconds(1e6, 9, 0, 30e-6), 12);
        // Below a tile it does not apply: 3 tokens, read 100 µs, two further tokens 80 µs.
        Assert.Equal(180e-6, kernel.Seconds(1e6, 3, 0, 100e-6), 12);
        // A read slower than the measured tile still bounds it.
        Assert.Equal(120e-6, kernel.Seconds(1e6, 4, 0, 120e-6), 12);
        // Interpolated only where both neighbours have it.
        var half = new MatmulKernel(4, [new MatmulRates(2048, 1, 1, 1, 100e9), new MatmulRates(8192, 1, 1, 1, 60e9)]).At(4096);
        Assert.Equal(80e9, half.TileStreamFlops, 1);
        Assert.Equal(0, new MatmulKernel(4, [new MatmulRates(2048, 1, 1, 1, 100e9), new MatmulRates(8192, 1, 1, 1)]).At(4096).TileStreamFlops);
    }

    [Fact]
    public void Leftover_tokens_of_a_rereading_kernel_pay_a_second_read()
    {
        var plain = new MatmulKernel(tiledFlops: 200e9, singleFlops: 50e9, tileTokens: 4);
        var rereads = plain with { LeftoversReread = true };
        // 9 tokens, read 100 µs: two tiles (first hidden by the read, second 40 µs) = 140 µs, then one
        // left-over token (40 µs) hidden by its own read = 100 µs.
        Assert.Equal(240e-6, rereads.Seconds(1e6, 9, 0, 100e-6), 12);
        Assert.Equal(180e-6, plain.Seconds(1e6, 9, 0, 100e-6), 12);
        // Whole tiles only, or fewer tokens than a tile: one pass either way.
        Assert.Equal(plain.Seconds(1e6, 8, 0, 100e-6), rereads.Seconds(1e6, 8, 0, 100e-6), 12);
        Assert.Equal(plain.Seconds(1e6, 3, 0, 100e-6), rereads.Seconds(1e6, 3, 0, 100e-6), 12);
        Assert.NotEqual(plain, rereads);
    }

    [Fact]
    public void A_step_charges_each_projection_at_its_own_row_length()
    {
        // llama-2-7b: q/k/v/o and gate/up have rows of 4096, down rows of 11008. Halving the tiled rate
        // at 11008 slows only the down projections, by their arithmetic beyond the first tile.
        var model = ModelCatalog.Default.Model("llama-2-7b");
        var f16 = ModelCatalog.Default.Format("F16");
        var cpu = HardwareCatalog.Default.Gpu("cpu-template");
        GpuSpec With(double downTiled) => cpu with
        {
            MatmulKernels = new Dictionary<string, MatmulKernel>
            {
                ["F16"] = new(4, [new MatmulRates(4096, 1e12, 1e12, 50e9), new MatmulRates(11008, downTiled, 1e12, 50e9)]),
            },
        };
        var cost = new RooflineCostModel();
        double Matmul(GpuSpec d) => cost.StageStep(model, f16, new LayerRange(0, 32), false, false, BatchShape.Prefill(512), d).MatmulSeconds;
        double down = 4096.0 * 11008;
        // Reading a weight (40 ps) takes longer than its first tile (8 ps, or 16 at half rate): the read stays whole.
        double expected = 32 * 2 * down * (512 - 4) * (1 / 0.5e12 - 1 / 1e12);
        Assert.Equal(expected, Matmul(With(0.5e12)) - Matmul(With(1e12)), 9);
    }
}
