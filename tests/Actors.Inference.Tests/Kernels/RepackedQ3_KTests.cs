using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The repacked Q3_K tiles against the Q3_K row kernel (llama.cpp's AVX2 vec_dot order, which its AVX-512
/// build runs for one token and for batches alike, held exact against llama.cpp by the parity tests): equal
/// bit for bit for the 16-row × 4-token tile and the one-token tile, with and without batch-order flags, over
/// row ranges cut inside groups, on random blocks and on blocks at the int16 limits of vpmaddubsw's pairs.
/// </summary>
public class RepackedQ3_KTests
{
    private const int BlockBytes = 110;

    [Theory]
    [InlineData(37, 256, 1)]
    [InlineData(37, 256 * 4, 7)]
    [InlineData(67, 4096, 2)]
    [InlineData(16, 256 * 11, 4)]
    [InlineData(50, 256 * 3, 9)]
    [InlineData(5, 256 * 2, 13)]
    public void Repacked_Q3_K_equals_the_row_kernel_bit_for_bit(int rows, int cols, int tokens)
    {
        if (!WeightRepacking.Supports(GgmlType.Q3_K)) return;
        ulong seed = (ulong)(rows * 1000 + cols + tokens);
        var (w, _) = KernelTestData.Weight(GgmlType.Q3_K, rows, cols, seed);
        RowKernelExactness.AssertEqual(GgmlType.Q3_K, w.RowSpan(0, rows).ToArray(), rows, cols, KernelTestData.Gaussian(tokens * cols, seed + 1), tokens, "random");
    }

    [Fact]
    public void Repacked_Q3_K_is_exact_with_every_value_at_minus_4_or_3_against_activations_at_minus_128()
    {
        if (!WeightRepacking.Supports(GgmlType.Q3_K)) return;
        const int rows = 19, cols = 768, tokens = 5;
        var rng = new Random(7);
        var bytes = new byte[rows * cols / 256 * BlockBytes];
        for (int blk = 0; blk < bytes.Length / BlockBytes; blk++)
        {
            var span = bytes.AsSpan(blk * BlockBytes, BlockBytes);
            // Every value −4 (hmask and low bits clear) or every value 3 (all set): the largest pair sums of each sign.
            byte fill = blk % 2 == 0 ? (byte)0 : (byte)0xFF;
            span[..96].Fill(fill);
            // Scales: all 6-bit zeros (−32, the largest magnitude) in every third block, random otherwise.
            for (int j = 0; j < 12; j++) span[96 + j] = blk % 3 == 0 ? (byte)0 : (byte)rng.Next(256);
            BitConverter.TryWriteBytes(span.Slice(108), BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
        }
        // Equal magnitudes quantize to ±127 or −128 everywhere.
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = i % 7 == 3 ? 2.5f : -2.5f;
        RowKernelExactness.AssertEqual(GgmlType.Q3_K, bytes, rows, cols, x, tokens, "extremes");
    }
}
