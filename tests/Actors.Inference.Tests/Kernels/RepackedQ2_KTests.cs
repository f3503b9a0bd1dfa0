using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The repacked Q2_K tiles against the Q2_K row kernel (llama.cpp's repacked gemv order for one token, its gemm's
/// per-128-value folds for batch-order tokens, held against scalar models of llama.cpp by <see cref="LlamaCppOrderTests"/>):
/// equal bit for bit for the 16-row × 4-token tile, the batch tile and the one-token tile, with and without batch-order
/// flags, over row ranges cut inside groups, on random blocks and on blocks at the int16 limits of the pair sums.
/// </summary>
public class RepackedQ2_KTests
{
    private const int BlockBytes = 84;

    [Theory]
    [InlineData(37, 256, 1)]
    [InlineData(37, 256 * 4, 7)]
    [InlineData(67, 4096, 2)]
    [InlineData(16, 256 * 11, 4)]
    [InlineData(50, 256 * 3, 9)]
    [InlineData(5, 256 * 2, 13)]
    public void Repacked_Q2_K_equals_the_row_kernel_bit_for_bit(int rows, int cols, int tokens)
    {
        if (!WeightRepacking.Supports(GgmlType.Q2_K)) return;
        ulong seed = (ulong)(rows * 1000 + cols + tokens);
        var (w, _) = KernelTestData.Weight(GgmlType.Q2_K, rows, cols, seed);
        RowKernelExactness.AssertEqual(GgmlType.Q2_K, w.RowSpan(0, rows).ToArray(), rows, cols, KernelTestData.Gaussian(tokens * cols, seed + 1), tokens, "random");
    }

    [Fact]
    public void Repacked_Q2_K_is_exact_with_every_value_3_and_scale_and_min_15_against_activations_at_their_limits()
    {
        if (!WeightRepacking.Supports(GgmlType.Q2_K)) return;
        const int rows = 19, cols = 768, tokens = 6;
        var rng = new Random(7);
        var bytes = new byte[rows * cols / 256 * BlockBytes];
        for (int blk = 0; blk < bytes.Length / BlockBytes; blk++)
        {
            var span = bytes.AsSpan(blk * BlockBytes, BlockBytes);
            // Scales and mins all 15 in every other block, random otherwise; every 2-bit value 3: the largest pair sums.
            for (int j = 0; j < 16; j++) span[j] = blk % 2 == 0 ? (byte)0xFF : (byte)rng.Next(256);
            span.Slice(16, 64).Fill(0xFF);
            BitConverter.TryWriteBytes(span.Slice(80), BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
            BitConverter.TryWriteBytes(span.Slice(82), BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
        }
        // Equal magnitudes quantize to ±127 or −128 everywhere.
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = i % 7 == 3 ? 2.5f : -2.5f;
        RowKernelExactness.AssertEqual(GgmlType.Q2_K, bytes, rows, cols, x, tokens, "extremes");
    }

    [Fact]
    public void Repacked_Q2_K_takes_every_value_scale_and_min_from_its_own_place()
    {
        // One 2-bit value, one scale and one min non-zero per row and block, each at a different place: a value, scale or
        // min routed to the wrong column, sub-block or row changes that row's result.
        if (!WeightRepacking.Supports(GgmlType.Q2_K)) return;
        const int rows = 16, cols = 256 * 16, tokens = 5;
        var bytes = new byte[rows * cols / 256 * BlockBytes];
        for (int r = 0; r < rows; r++)
            for (int b = 0; b < cols / 256; b++)
            {
                var span = bytes.AsSpan((r * cols / 256 + b) * BlockBytes, BlockBytes);
                int v = (37 * r + 11 * b) % 256, j = v / 16, jm = (j + 5 + r) % 16;
                int n = v / 128, k = v % 128 / 32, i = v % 32;
                span[16 + 32 * n + i] = (byte)(((r + b) % 3 + 1) << (2 * k));
                span[j] = (byte)(1 + (r + b) % 15);
                span[jm] |= (byte)((1 + (r * 3 + b) % 15) << 4);
                BitConverter.TryWriteBytes(span.Slice(80), BitConverter.HalfToUInt16Bits((Half)0.01));
                BitConverter.TryWriteBytes(span.Slice(82), BitConverter.HalfToUInt16Bits((Half)0.003));
            }
        RowKernelExactness.AssertEqual(GgmlType.Q2_K, bytes, rows, cols, KernelTestData.Gaussian(tokens * cols, 11), tokens, "single values");
    }

    [Fact]
    public void Repacked_Q2_K_allocates_nothing_in_steady_state_in_either_order()
    {
        if (!WeightRepacking.Supports(GgmlType.Q2_K)) return;
        const int rows = 37, cols = 512, tokens = 9;
        var (w, _) = KernelTestData.Weight(GgmlType.Q2_K, rows, cols, 21);
        Assert.True(WeightRepacking.TryRepack(w), "Q2_K was not repacked");
        var x = KernelTestData.Gaussian(tokens * cols, 22);
        var flags = Enumerable.Range(0, tokens).Select(t => t % 3 != 2).ToArray();
        var act = new PreparedActivations();
        var y = new float[tokens * rows];
        void Run()
        {
            MatMul.Prepare(GgmlType.Q2_K, x, tokens, cols, act, KernelPath.Avx512);
            MatMul.Compute(w, act, tokens, y, rows, 0, rows, KernelPath.Avx512);
            act.SetTokenOrder(flags);
            MatMul.Compute(w, act, tokens, y, rows, 3, 29, KernelPath.Avx512);
            MatMul.Compute(w, act, 1, y, rows, 0, rows, KernelPath.Avx512);
        }
        // Warm up by time (tiered compilation may allocate while it promotes methods), then the best of a few windows.
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 300) Run();
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 5 && best != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) Run();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.Equal(0, best);
    }
}
