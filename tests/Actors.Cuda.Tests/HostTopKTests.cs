using Actors.Inference.Sampling;
using Xunit;

namespace Actors.Cuda.Tests;

/// <summary>
/// The device's argmax/top-k selection (kernels/logit_rank.cuh, as kernels/sampling.cu drives it: strided
/// thread scans, warp butterflies, one pass per k) built for the host and compared with the CPU's
/// <see cref="LogitTopK"/> on the same rows, so the last-stage top-k of both backends is checked without a GPU:
/// above all that a row holding NaN reports its first NaN, which the sampler then rejects.
/// </summary>
public class HostTopKTests
{
    private static readonly Lazy<string> Harness = new(() => HostCompiler.Build(
        Path.Combine("HostTopK", "topk_rows.cpp"), "-std=c++17", "-O2", "-Wall", "-Wextra"));

    /// <summary>The harness's top-k of [rows, cols] logits for a block of <paramref name="threads"/>: ([rows, k] ids, [rows, k] values).</summary>
    private static (int[] Indices, float[] Values) DeviceTopK(float[] logits, int cols, int k, int threads)
    {
        int rows = logits.Length / cols;
        var input = new byte[16 + 4 * logits.Length];
        Buffer.BlockCopy(new[] { rows, cols, k, threads }, 0, input, 0, 16);
        Buffer.BlockCopy(logits, 0, input, 16, 4 * logits.Length);
        var (code, stdout, err) = HostCompiler.Run(Harness.Value, [], input);
        Assert.True(code == 0, $"topk_rows exited {code}: {err}");
        Assert.Equal(8 * rows * k, stdout.Length);
        var indices = new int[rows * k];
        var values = new float[rows * k];
        Buffer.BlockCopy(stdout, 0, indices, 0, 4 * rows * k);
        Buffer.BlockCopy(stdout, 4 * rows * k, values, 0, 4 * rows * k);
        return (indices, values);
    }

    [HostCompilerTheory]
    [InlineData(4099, 1, 1024)]  // argmax, as launched
    [InlineData(4099, 5, 1024)]
    [InlineData(4099, 64, 1024)] // the largest k a CUDA stage takes
    [InlineData(300, 8, 64)]     // two warps
    [InlineData(7, 7, 32)]       // k = the whole row
    public void Device_top_k_matches_the_cpu_top_k_on_rows_with_NaN_infinities_and_ties(int cols, int k, int threads)
    {
        var logits = TopKRows.Build(new Random(cols * 131 + k), cols);
        var (indices, values) = DeviceTopK(logits, cols, k, threads);
        TopKRows.AssertSameAsCpu(logits, cols, k, indices, values, $"host build of sampling.cu ({threads} threads)");
    }

    [HostCompilerTheory]
    [InlineData(1)]
    [InlineData(40)]
    public void A_row_with_NaN_at_a_random_position_reports_that_NaN_first_and_the_sampler_rejects_it_as_on_the_cpu(int k)
    {
        const int rows = 24, cols = 2048;
        var rng = new Random(97 + k);
        var logits = new float[rows * cols];
        for (int i = 0; i < logits.Length; i++) logits[i] = TopKRows.RandomLogit(rng);
        var nanAt = new int[rows];
        for (int r = 0; r < rows; r++) logits[r * cols + (nanAt[r] = rng.Next(cols))] = float.NaN;

        var (indices, values) = DeviceTopK(logits, cols, k, threads: 1024);
        TopKRows.AssertSameAsCpu(logits, cols, k, indices, values, "host build of sampling.cu");
        var cpuIndices = new int[k];
        var cpuValues = new float[k];
        for (int r = 0; r < rows; r++)
        {
            Assert.All(indices.AsSpan(r * k, k).ToArray(), i => Assert.Equal(nanAt[r], i));
            Assert.All(values.AsSpan(r * k, k).ToArray(), v => Assert.True(float.IsNaN(v)));
            // The caller's rejection: the same error from either backend's top-k, naming the NaN token.
            LogitTopK.Select(logits.AsSpan(r * cols, cols), k, cpuIndices, cpuValues);
            var parameters = k == 1 ? new SamplingParameters { Temperature = 0 } : new SamplingParameters { Temperature = 0.8f, TopK = k, Seed = 5 };
            var device = Assert.Throws<ArgumentException>(() => new Sampler(parameters, cols).SampleFromTop(indices.AsSpan(r * k, k), values.AsSpan(r * k, k)));
            var cpu = Assert.Throws<ArgumentException>(() => new Sampler(parameters, cols).SampleFromTop(cpuIndices, cpuValues));
            Assert.Equal(cpu.Message, device.Message);
            Assert.Contains($"logit of token {nanAt[r]} is NaN", device.Message);
        }
    }

    [HostCompilerTheory]
    [InlineData(4, 5, 32)]    // k > cols
    [InlineData(64, 1, 48)]   // not a whole number of warps
    public void The_harness_refuses_a_shape_the_kernel_is_never_launched_with(int cols, int k, int threads)
    {
        var input = new byte[16 + 4 * cols];
        Buffer.BlockCopy(new[] { 1, cols, k, threads }, 0, input, 0, 16);
        var (code, _, err) = HostCompiler.Run(Harness.Value, [], input);
        Assert.Equal(2, code);
        Assert.Contains("bad shape", err);
    }
}
