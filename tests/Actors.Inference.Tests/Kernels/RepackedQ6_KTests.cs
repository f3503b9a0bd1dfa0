using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The repacked Q6_K tiles against the Q6_K row kernel (llama.cpp's float order, held exact against
/// llama.cpp by the parity tests): equal bit for bit, for the 16-row × 4-token tile and the one-token tile,
/// on random blocks and on blocks at the int16 limits of vpmaddubsw's pair sums.
/// </summary>
public class RepackedQ6_KTests
{
    private const int BlockBytes = 210;

    [Theory]
    [InlineData(37, 256, 1)]
    [InlineData(37, 256 * 4, 7)]
    [InlineData(67, 4096, 2)]
    [InlineData(16, 256 * 11, 4)]
    [InlineData(50, 256 * 3, 9)]
    public void Repacked_Q6_K_equals_the_row_kernel_bit_for_bit(int rows, int cols, int tokens)
    {
        if (!WeightRepacking.Supports(GgmlType.Q6_K)) return;
        ulong seed = (ulong)(rows * 1000 + cols + tokens);
        var (w, _) = KernelTestData.Weight(GgmlType.Q6_K, rows, cols, seed);
        RowKernelExactness.AssertEqual(GgmlType.Q6_K, w.RowSpan(0, rows).ToArray(), rows, cols, KernelTestData.Gaussian(tokens * cols, seed + 1), tokens, "random");
    }

    [Fact]
    public void Repacked_Q6_K_is_exact_with_every_value_63_against_activations_at_minus_128()
    {
        if (!WeightRepacking.Supports(GgmlType.Q6_K)) return;
        const int rows = 19, cols = 512, tokens = 5;
        var rng = new Random(7);
        var bytes = new byte[rows * cols / 256 * BlockBytes];
        for (int blk = 0; blk < bytes.Length / BlockBytes; blk++)
        {
            var span = bytes.AsSpan(blk * BlockBytes, BlockBytes);
            span[..192].Fill(0xFF); // every 6-bit value 63: the largest vpmaddubsw pair sums
            for (int j = 0; j < 16; j++) span[192 + j] = (byte)(j % 3 == 0 ? 0x80 : rng.Next(256)); // -128 among random scales
            BitConverter.TryWriteBytes(span.Slice(208), BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
        }
        // Equal magnitudes quantize to ±127 or −128 everywhere: the int16 sum of two steps' pairs sits at its limit.
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = i % 7 == 3 ? 2.5f : -2.5f;
        RowKernelExactness.AssertEqual(GgmlType.Q6_K, bytes, rows, cols, x, tokens, "extremes");
    }
}
