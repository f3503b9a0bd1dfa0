using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The repacked IQ4_XS tiles against the IQ4_XS row kernel (llama.cpp's AVX2 vec_dot order, which its AVX-512 build
/// runs for one token and for a batch alike): equal bit for bit, for the 16-row × 4-token tile and the one-token tile,
/// with and without batch-order flags, over row ranges cut inside groups, on random blocks and at the extremes
/// (every level −127, scales −32 and +31, activations at ±127).
/// </summary>
public class RepackedIQ4_XSTests
{
    private const int BlockBytes = 136;

    private static bool Skip => !WeightRepacking.Supports(GgmlType.IQ4_XS);

    [Theory]
    [InlineData(37, 256, 1)]
    [InlineData(5, 256 * 3, 1)]
    [InlineData(83, 256 * 4, 7)]
    [InlineData(67, 4096, 2)]
    [InlineData(16, 256 * 11, 4)]
    [InlineData(50, 256 * 3, 9)]
    public void Repacked_IQ4_XS_equals_the_row_kernel_bit_for_bit(int rows, int cols, int tokens)
    {
        if (Skip) return;
        ulong seed = (ulong)(rows * 1000 + cols + tokens);
        var (w, _) = KernelTestData.Weight(GgmlType.IQ4_XS, rows, cols, seed);
        RowKernelExactness.AssertEqual(GgmlType.IQ4_XS, w.RowSpan(0, rows).ToArray(), rows, cols, KernelTestData.Gaussian(tokens * cols, seed + 1), tokens, "random");
    }

    [Fact]
    public void Repacked_IQ4_XS_is_exact_at_the_largest_levels_scales_and_activations()
    {
        if (Skip) return;
        const int rows = 19, cols = 512, tokens = 5;
        var rng = new Random(11);
        var bytes = new byte[rows * cols / 256 * BlockBytes];
        for (int blk = 0; blk < bytes.Length / BlockBytes; blk++)
        {
            var span = bytes.AsSpan(blk * BlockBytes, BlockBytes);
            BitConverter.TryWriteBytes(span, BitConverter.HalfToUInt16Bits((Half)(0.001 + rng.NextDouble() * 0.01)));
            // Scales alternate between ls = 0 (−32) and ls = 63 (+31); every nibble 0 (level −127) or 15 (+113).
            span[2] = (byte)(blk % 2 == 0 ? 0xCC : 0x33);
            span[3] = (byte)(blk % 2 == 0 ? 0x33 : 0xCC);
            for (int i = 4; i < 8; i++) span[i] = (byte)(blk % 2 == 0 ? 0xF0 : 0x0F);
            for (int i = 8; i < BlockBytes; i++) span[i] = (byte)(i % 5 == 0 ? 0xFF : 0x00);
        }
        // Equal magnitudes quantize to ±127 everywhere: the int16 pair sums of vpmaddubsw sit at their largest.
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = i % 7 == 3 ? 2.5f : -2.5f;
        RowKernelExactness.AssertEqual(GgmlType.IQ4_XS, bytes, rows, cols, x, tokens, "extremes");
    }

    [Fact]
    public void Whole_groups_repack_to_the_same_bytes_as_the_value_by_value_copy()
    {
        if (Skip) return;
        var rng = new Random(31);
        foreach (int blocks in new[] { 1, 4, 11 })
        {
            // Arbitrary bytes: every scale bit pattern and every half, NaN and subnormals included.
            int rb = blocks * BlockBytes;
            var src = new byte[16 * rb];
            rng.NextBytes(src);
            var expected = new byte[blocks * RepackedIQ4_XS.BlockBytes];
            var actual = new byte[blocks * RepackedIQ4_XS.BlockBytes];
            rng.NextBytes(actual); // stale bytes must all be overwritten
            RepackedIQ4_XS.CopyGroup(src, rb, 16, blocks, ref expected[0]);
            RepackedIQ4_XS.FullGroup(src, rb, blocks, ref actual[0]);
            for (int i = 0; i < expected.Length; i++)
                if (expected[i] != actual[i]) Assert.Fail($"{blocks} blocks: byte {i} (block {i / RepackedIQ4_XS.BlockBytes}, offset {i % RepackedIQ4_XS.BlockBytes}) is {actual[i]}, expected {expected[i]}");
        }
    }
}
