using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>F16 prefill converts row chunks to f32 once: every (row, token) result keeps the bits of the one-token F16 product.</summary>
public class HalfRowsPrefillTests
{
    [Theory]
    [InlineData(200, 512, 13)]  // two converted chunks, two 6-token tiles and one token left over
    [InlineData(40, 1408, 8)]   // column-blocked tiles (more than 1024 columns)
    [InlineData(9, 100, 6)]     // scalar tail columns
    public void Many_token_F16_products_equal_one_token_products_bit_for_bit(int rows, int cols, int tokens)
    {
        var (w, _) = KernelTestData.Weight(GgmlType.F16, rows, cols, 21);
        var bytes = w.RowSpan(0, rows).ToArray();
        BitConverter.TryWriteBytes(bytes.AsSpan(w.RowBytes * (rows - 1) + 2 * 3), (ushort)0x7C00); // last row: +inf
        var wm = new WeightMatrix("w", GgmlType.F16, rows, cols, TensorSource.FromArray(bytes));
        var x = KernelTestData.Gaussian(tokens * cols, 22);
        for (int t = 0; t < tokens; t++) x[t * cols + 3] = Math.Abs(x[t * cols + 3]) + 0.5f;
        foreach (var path in KernelTestData.Paths)
        {
            if (KernelTestData.Skip(path)) continue;
            var act = new PreparedActivations();
            MatMul.Prepare(GgmlType.F16, x, tokens, cols, act, path);
            var y = new float[tokens * rows];
            MatMul.Compute(wm, act, tokens, y, rows, 0, rows, path);
            for (int t = 0; t < tokens; t++)
            {
                var one = new PreparedActivations();
                MatMul.Prepare(GgmlType.F16, x.AsSpan(t * cols, cols), 1, cols, one, path);
                var y1 = new float[rows];
                MatMul.Compute(wm, one, 1, y1, rows, 0, rows, path);
                for (int r = 0; r < rows; r++)
                    Assert.True(BitConverter.SingleToInt32Bits(y1[r]) == BitConverter.SingleToInt32Bits(y[t * rows + r]), $"{path} token {t} row {r}: {y[t * rows + r]} vs {y1[r]}");
            }
            Assert.Equal(float.PositiveInfinity, y[(tokens - 1) * rows + rows - 1]);
        }
    }
}
