using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Xunit;

namespace Actors.Inference.Tests.Kernels;

/// <summary>A reused <see cref="PreparedActivations"/> makes steady-state Prepare + Compute allocation-free.</summary>
public class AllocationTests
{
    [Theory]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q6_K)]
    public void Steady_state_prepare_and_compute_allocate_nothing(GgmlType type)
    {
        const int rows = 33, cols = 512, tokens = 9;
        var (w, _) = KernelTestData.Weight(type, rows, cols, 11);
        var x = KernelTestData.Gaussian(tokens * cols, 12);
        var act = new PreparedActivations();
        var y = new float[tokens * rows];
        foreach (var path in KernelTestData.Paths)
        {
            if (KernelTestData.Skip(path)) continue;
            // First calls size the buffers and run static constructors; tiered compilation may also
            // allocate on this thread while it promotes methods, so warm up by time and accept the
            // best of a few measured windows: steady state must allocate exactly nothing.
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (sw.ElapsedMilliseconds < 300) Run(type, path, w, act, x, y, tokens, rows, cols);
            long best = long.MaxValue;
            for (int attempt = 0; attempt < 5 && best != 0; attempt++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 20; i++) Run(type, path, w, act, x, y, tokens, rows, cols);
                best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            Assert.Equal(0, best);
        }
    }

    private static void Run(GgmlType type, KernelPath path, Actors.Inference.Model.WeightMatrix w, PreparedActivations act, float[] x, float[] y, int tokens, int rows, int cols)
    {
        MatMul.Prepare(type, x, tokens, cols, act, path);
        MatMul.Compute(w, act, tokens, y, rows, 0, rows, path);
        MatMul.Compute(w, act, 1, y, rows, 5, 17, path);
    }

    [Fact]
    public void Mismatched_activations_and_bad_ranges_are_rejected()
    {
        var (w, _) = KernelTestData.Weight(GgmlType.Q4_K, 4, 256, 1);
        var act = new PreparedActivations();
        var y = new float[8];
        MatMul.Prepare(GgmlType.Q4_0, KernelTestData.Gaussian(256, 2), 1, 256, act);
        Assert.Throws<ArgumentException>(() => MatMul.Compute(w, act, 1, y, 4, 0, 4)); // Q8_0 activations for Q4_K weights
        MatMul.Prepare(GgmlType.Q4_K, KernelTestData.Gaussian(256, 2), 1, 256, act);
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMul.Compute(w, act, 2, y, 4, 0, 4)); // more tokens than prepared
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMul.Compute(w, act, 1, y, 4, 3, 5)); // rows past the end
        Assert.Throws<ArgumentException>(() => MatMul.Prepare(GgmlType.Q4_K, new float[100], 1, 100, act)); // not a multiple of 256
        if (KernelDispatch.IsSupported(KernelPath.Avx512))
        {
            // Q4_0 activations are stored in a path-specific order: preparing on one path and computing on another is refused.
            var (w4, _) = KernelTestData.Weight(GgmlType.Q4_0, 4, 256, 3);
            MatMul.Prepare(GgmlType.Q4_0, KernelTestData.Gaussian(256, 4), 1, 256, act, KernelPath.Portable);
            Assert.Throws<ArgumentException>(() => MatMul.Compute(w4, act, 1, y, 4, 0, 4, KernelPath.Avx512));
        }
    }
}
