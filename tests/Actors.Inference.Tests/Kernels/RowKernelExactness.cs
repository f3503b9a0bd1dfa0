using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// A repacked tile against its type's row kernel (llama.cpp's order, held exact by the parity tests), bit for bit:
/// the batch over row ranges cut inside a group (as the thread split may cut them), the same with batch-order flags
/// (for types with one order nothing may change; for the others the row kernel sees the same flags), and every
/// token alone through the one-token tile.
/// </summary>
internal static class RowKernelExactness
{
    public static void AssertEqual(GgmlType type, byte[] bytes, int rows, int cols, float[] x, int tokens, string what)
    {
        var w = new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes.ToArray()));
        var rowWise = new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes.ToArray()));
        Assert.True(WeightRepacking.TryRepack(w), $"{type} was not repacked");
        foreach (bool flagged in new[] { false, true })
        {
            var act = new PreparedActivations();
            MatMul.Prepare(type, x, tokens, cols, act, KernelPath.Avx512);
            if (flagged) act.SetTokenOrder(Enumerable.Range(0, tokens).Select(t => t % 3 != 2).ToArray());
            var y = new float[tokens * rows];
            var yRow = new float[tokens * rows];
            int cut = Math.Min(rows, 7);
            MatMul.Compute(w, act, tokens, y, rows, 0, cut, KernelPath.Avx512);
            MatMul.Compute(w, act, tokens, y, rows, cut, rows, KernelPath.Avx512);
            MatMul.Compute(rowWise, act, tokens, yRow, rows, 0, rows, KernelPath.Avx512);
            Compare(yRow, y, rows, tokens, $"{what} ({(flagged ? "batch-order flags" : "one-token order")}), cols {cols}");
        }
        var all = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, all, KernelPath.Avx512);
        var expected = new float[tokens * rows];
        MatMul.Compute(rowWise, all, tokens, expected, rows, 0, rows, KernelPath.Avx512);
        var alone = new float[tokens * rows];
        for (int t = 0; t < tokens; t++)
        {
            var one = new PreparedActivations();
            MatMul.Prepare(type, x.AsSpan(t * cols, cols), 1, cols, one, KernelPath.Avx512);
            MatMul.Compute(w, one, 1, alone.AsSpan(t * rows, rows), rows, 0, rows, KernelPath.Avx512);
        }
        Compare(expected, alone, rows, tokens, $"{what} (each token alone), cols {cols}");
    }

    private static void Compare(float[] expected, float[] actual, int rows, int tokens, string what)
    {
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < rows; r++)
            {
                float e = expected[t * rows + r], a = actual[t * rows + r];
                if (BitConverter.SingleToInt32Bits(e) != BitConverter.SingleToInt32Bits(a))
                    Assert.Fail($"{what}: tokens {tokens} row {r} token {t}: {a:R}, row kernel {e:R}");
            }
    }
}
