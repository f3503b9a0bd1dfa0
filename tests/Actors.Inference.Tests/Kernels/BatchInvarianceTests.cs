using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>
/// y[t, r] must be bit-identical whatever the batch size, t's position in it and the row split,
/// on every kernel path (multi-token tiles must follow each token's single-token sequence exactly).
/// </summary>
public class BatchInvarianceTests
{
    public static IEnumerable<object[]> Cases()
    {
        foreach (var type in KernelTestData.Types)
            foreach (var path in KernelTestData.Paths)
                yield return [type, path];
    }

    private static int ColsFor(GgmlType type) => GgmlTypeInfo.BlockSize(type) switch
    {
        1 => 1183,       // 18·64 + 16 + 15: every loop stage
        32 => 32 * 37,   // full groups of 16 blocks, then 5 blocks: 2 pairs and a lone block
        _ => 256 * 5,
    };

    private static float[] Run(GgmlType type, KernelPath path, Actors.Inference.Model.WeightMatrix w, float[] x, int firstToken, int tokens, int cols, int rows, int[] splits)
    {
        var act = new PreparedActivations();
        MatMul.Prepare(type, x.AsSpan(firstToken * cols, tokens * cols), tokens, cols, act, path);
        var y = new float[tokens * rows];
        for (int i = 0; i + 1 < splits.Length; i++)
            MatMul.Compute(w, act, tokens, y, rows, splits[i], splits[i + 1], path);
        return y;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Outputs_are_bitwise_identical_across_batches_positions_and_row_splits(GgmlType type, KernelPath path)
    {
        if (KernelTestData.Skip(path)) return;
        const int rows = 37, tokens = 17;
        int cols = ColsFor(type);
        var (w, _) = KernelTestData.Weight(type, rows, cols, 4242 + (ulong)type);
        var x = KernelTestData.Gaussian(tokens * cols, 99 + (ulong)type);

        var full = Run(type, path, w, x, 0, tokens, cols, rows, [0, rows]);

        // Each token alone.
        for (int t = 0; t < tokens; t++)
        {
            var one = Run(type, path, w, x, t, 1, cols, rows, [0, rows]);
            AssertBitwise(full.AsSpan(t * rows, rows), one, $"token {t} alone");
        }

        // Sub-batches at other offsets (tiles of 4 then a remainder; tokens shift position in their tile).
        foreach (var (first, count) in new[] { (3, 5), (1, 9), (6, 4), (2, 15) })
        {
            var part = Run(type, path, w, x, first, count, cols, rows, [0, rows]);
            AssertBitwise(full.AsSpan(first * rows, count * rows), part, $"tokens [{first}, {first + count})");
        }

        // Row splits among "threads", including single rows and odd boundaries.
        foreach (var splits in new[] { new[] { 0, 1, 2, 18, 19, 37 }, [0, 13, 29, 36, 37], [0, 5, 10, 15, 20, 25, 30, 35, 37] })
            AssertBitwise(full, Run(type, path, w, x, 0, tokens, cols, rows, splits), $"split {string.Join(',', splits)}");

        // Fewer tokens than prepared.
        {
            var act = new PreparedActivations();
            MatMul.Prepare(type, x, tokens, cols, act, path);
            var y = new float[6 * rows];
            MatMul.Compute(w, act, 6, y, rows, 0, rows, path);
            AssertBitwise(full.AsSpan(0, 6 * rows), y, "6 of 17 prepared tokens");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Reused_activations_after_a_larger_batch_give_the_same_bits(GgmlType type, KernelPath path)
    {
        // PreparedActivations only grows: stale data past the new shape (e.g. scale padding) must not leak in.
        if (KernelTestData.Skip(path)) return;
        int cols = ColsFor(type), rows = 5;
        var (w, _) = KernelTestData.Weight(type, rows, cols, 7);
        var big = KernelTestData.Gaussian(9 * 4096, 8);
        var x = KernelTestData.Gaussian(cols, 9);
        var fresh = Run(type, path, w, x, 0, 1, cols, rows, [0, rows]);
        var act = new PreparedActivations();
        MatMul.Prepare(type, big, 9, 4096, act, path);
        MatMul.Prepare(type, x, 1, cols, act, path);
        var y = new float[rows];
        MatMul.Compute(w, act, 1, y, rows, 0, rows, path);
        AssertBitwise(fresh, y, "reused buffers");
    }

    private static void AssertBitwise(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{what}: element {i} differs: {expected[i]:R} vs {actual[i]:R}");
    }
}
