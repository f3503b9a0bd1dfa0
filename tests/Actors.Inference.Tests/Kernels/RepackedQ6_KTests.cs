using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// The repacked Q6_K tiles against a scalar reference of the float work they promise: per (row, token)
/// acc = fma(d·d_x, f32(Σ_j sc_j·(Σu·x − 32·Σx_j)), acc), block after block, with the block's integer sum
/// computed in int64 from the file's bytes. Equality is bit for bit, for the 16-row × 4-token tile and the
/// one-token tile, on random blocks and on blocks at the int16 limits of the pair sums.
/// </summary>
public class RepackedQ6_KTests
{
    private const int BlockBytes = 210;

    private static float Reference(ReadOnlySpan<byte> row, PreparedActivations act, int t, int blocks)
    {
        float acc = 0;
        for (int b = 0; b < blocks; b++)
        {
            var blk = row.Slice(b * BlockBytes, BlockBytes);
            long isum = 0;
            for (int j = 0; j < 16; j++)
            {
                long dot = 0, sx = 0;
                for (int i = 16 * j; i < 16 * j + 16; i++)
                {
                    int n = i / 128, l = i % 32, k = i % 128 / 32;
                    int lowByte = blk[64 * n + 32 * (k & 1) + l];
                    int nibble = k < 2 ? lowByte & 0x0F : lowByte >> 4;
                    int high = (blk[128 + 32 * n + l] >> (2 * k)) & 3;
                    int x = act.QuantAt(t, 256 * b + i);
                    dot += (nibble | high << 4) * x;
                    sx += x;
                }
                isum += (sbyte)blk[192 + j] * (dot - 32 * sx);
            }
            Assert.InRange(isum, int.MinValue, int.MaxValue);
            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(blk.Slice(208)));
            acc = MathF.FusedMultiplyAdd(d * act.Scales[t * act.ScaleStride + b], (int)isum, acc);
        }
        return acc;
    }

    private static void AssertExact(byte[] bytes, int rows, int cols, float[] x, int tokens, string what)
    {
        var w = new WeightMatrix("w", GgmlType.Q6_K, rows, cols, TensorSource.FromArray(bytes.ToArray()));
        Assert.True(WeightRepacking.TryRepack(w), "Q6_K was not repacked");
        var act = new PreparedActivations();
        MatMul.Prepare(GgmlType.Q6_K, x, tokens, cols, act, KernelPath.Avx512);
        var y = new float[tokens * rows];
        MatMul.Compute(w, act, tokens, y, rows, 0, rows, KernelPath.Avx512);
        int rb = cols / 256 * BlockBytes;
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float expected = Reference(bytes.AsSpan(r * rb, rb), act, t, cols / 256);
                if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(y[t * rows + r]))
                    Assert.Fail($"{what}: cols {cols} tokens {tokens} row {r} token {t}: {y[t * rows + r]:R}, reference {expected:R}");
            }
    }

    [Theory]
    [InlineData(37, 256, 1)]
    [InlineData(37, 256 * 4, 7)]
    [InlineData(16, 256 * 11, 4)]
    [InlineData(50, 256 * 3, 9)]
    public void Repacked_Q6_K_equals_the_exact_integer_fold_bit_for_bit(int rows, int cols, int tokens)
    {
        if (!WeightRepacking.Supports(GgmlType.Q6_K)) return;
        ulong seed = (ulong)(rows * 1000 + cols + tokens);
        var (w, _) = KernelTestData.Weight(GgmlType.Q6_K, rows, cols, seed);
        AssertExact(w.RowSpan(0, rows).ToArray(), rows, cols, KernelTestData.Gaussian(tokens * cols, seed + 1), tokens, "random");
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
        AssertExact(bytes, rows, cols, x, tokens, "extremes");
    }
}
