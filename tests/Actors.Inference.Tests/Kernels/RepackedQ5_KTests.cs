using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The repacked Q5_K tiles against the Q5_K row kernel (llama.cpp's AVX2 vec_dot order, held against
/// llama.cpp by the parity tests): equal bit for bit, for the 16-row × 4-token tile and the one-token tile
/// (the batch and the one-token order: Q5_K has one order for both), on random blocks, partial groups
/// and blocks at the limits of vpmaddubsw's pair sums.
/// </summary>
public class RepackedQ5_KTests
{
    private const int BlockBytes = 176;

    [Theory]
    [InlineData(37, 256, 1)]
    [InlineData(37, 256 * 4, 7)]
    [InlineData(67, 4096, 2)]
    [InlineData(16, 256 * 11, 4)]
    [InlineData(50, 256 * 3, 9)]
    [InlineData(5, 512, 5)]
    public void Repacked_Q5_K_equals_the_row_kernel_bit_for_bit(int rows, int cols, int tokens)
    {
        if (!WeightRepacking.Supports(GgmlType.Q5_K)) return;
        ulong seed = (ulong)(rows * 1000 + cols + tokens);
        var (w, _) = KernelTestData.Weight(GgmlType.Q5_K, rows, cols, seed);
        RowKernelExactness.AssertEqual(GgmlType.Q5_K, w.RowSpan(0, rows).ToArray(), rows, cols, KernelTestData.Gaussian(tokens * cols, seed + 1), tokens, "random");
    }

    [Fact]
    public void Repacked_Q5_K_is_exact_with_every_value_31_and_scale_63_against_activations_at_their_limits()
    {
        if (!WeightRepacking.Supports(GgmlType.Q5_K)) return;
        const int rows = 19, cols = 512, tokens = 5;
        var rng = new Random(7);
        var bytes = new byte[rows * cols / 256 * BlockBytes];
        for (int blk = 0; blk < bytes.Length / BlockBytes; blk++)
        {
            var span = bytes.AsSpan(blk * BlockBytes, BlockBytes);
            BitConverter.TryWriteBytes(span, BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
            BitConverter.TryWriteBytes(span.Slice(2), BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
            for (int j = 4; j < 16; j++) span[j] = (byte)(blk % 2 == 0 ? 0xFF : rng.Next(256)); // all scales and mins 63, or random
            span.Slice(16).Fill(0xFF); // every 5-bit value 31: the largest vpmaddubsw pair sums
        }
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = i % 7 == 3 ? 2.5f : -2.5f;
        RowKernelExactness.AssertEqual(GgmlType.Q5_K, bytes, rows, cols, x, tokens, "extremes");
    }

    [Fact]
    public void Repacked_Q5_K_takes_every_high_bit_from_its_own_value()
    {
        // One qh bit set at a time in an otherwise zero block: a bit routed to the wrong value changes the product.
        if (!WeightRepacking.Supports(GgmlType.Q5_K)) return;
        const int rows = 16, cols = 256, tokens = 1;
        var rng = new Random(3);
        var bytes = new byte[rows * BlockBytes];
        for (int r = 0; r < rows; r++)
        {
            var span = bytes.AsSpan(r * BlockBytes, BlockBytes);
            BitConverter.TryWriteBytes(span, BitConverter.HalfToUInt16Bits((Half)0.01));
            for (int j = 4; j < 16; j++) span[j] = (byte)rng.Next(256);
            rng.NextBytes(span.Slice(48)); // random nibbles
            for (int i = 0; i < 32; i++) span[16 + i] = (byte)(1 << ((r + i) % 8));
        }
        RowKernelExactness.AssertEqual(GgmlType.Q5_K, bytes, rows, cols, KernelTestData.Gaussian(tokens * cols, 11), tokens, "single high bits");
    }

    [Fact]
    public void Repacked_Q5_K_sums_batch_order_tokens_as_its_row_kernel_does()
    {
        // A prompt's tokens come flagged for llama.cpp's batch order; Q5_K has one order (its vec_dot) for both,
        // so the flagged tokens, consecutive or not, equal the row kernel's under the same flags bit for bit.
        if (!WeightRepacking.Supports(GgmlType.Q5_K)) return;
        const int rows = 41, cols = 256 * 3, tokens = 11;
        var (w, _) = KernelTestData.Weight(GgmlType.Q5_K, rows, cols, 5);
        var bytes = w.RowSpan(0, rows).ToArray();
        var repacked = new WeightMatrix("w", GgmlType.Q5_K, rows, cols, TensorSource.FromArray(bytes.ToArray()));
        var rowWise = new WeightMatrix("w", GgmlType.Q5_K, rows, cols, TensorSource.FromArray(bytes));
        Assert.True(WeightRepacking.TryRepack(repacked), "Q5_K was not repacked");
        var x = KernelTestData.Gaussian(tokens * cols, 6);
        var act = new PreparedActivations();
        MatMul.Prepare(GgmlType.Q5_K, x, tokens, cols, act, KernelPath.Avx512);
        act.SetTokenOrder(Enumerable.Range(0, tokens).Select(t => t % 3 != 2).ToArray());
        var y = new float[tokens * rows];
        var yRow = new float[tokens * rows];
        MatMul.Compute(repacked, act, tokens, y, rows, 0, rows, KernelPath.Avx512);
        MatMul.Compute(rowWise, act, tokens, yRow, rows, 0, rows, KernelPath.Avx512);
        for (int i = 0; i < y.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(y[i]) == BitConverter.SingleToInt32Bits(yRow[i]), $"token {i / rows} row {i % rows}: {y[i]:R}, row kernel {yRow[i]:R}");
    }
}
