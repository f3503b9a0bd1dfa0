using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Quantization;
using Actors.Inference.Synthetic;
using Actors.Simulation.Catalog;

namespace Actors.Cli.Validate;

/// <summary>
/// This machine's two roofline figures, measured the way the CPU backend uses the machine: every
/// thread of the device at once. Each figure is the best of several tries (the least disturbed by
/// other work on a shared machine), as STREAM reports its best run.
/// </summary>
public static class MachineProbe
{
    /// <summary>
    /// Read bandwidth, bytes/s: each thread sums its own slice of a buffer far larger than the caches
    /// (<paramref name="bytes"/>), so every byte comes from DRAM once per pass.
    /// </summary>
    public static double ReadBandwidth(int threads, long bytes = 512L << 20, int tries = 5)
    {
        long count = bytes / sizeof(float);
        var buffer = GC.AllocateUninitializedArray<float>((int)Math.Min(count, Array.MaxLength));
        // Touch every page so the first pass does not measure page faults.
        for (int i = 0; i < buffer.Length; i += 1024) buffer[i] = i;
        double best = 0;
        var sinks = new float[threads * 16];
        for (int t = 0; t < tries + 1; t++)
        {
            double seconds = RunOnThreads(threads, k =>
            {
                int per = buffer.Length / threads;
                sinks[k * 16] = Sum(buffer.AsSpan(k * per, per));
            });
            if (t > 0) best = Math.Max(best, (double)buffer.Length * sizeof(float) / seconds);
        }
        GC.KeepAlive(sinks);
        return best;
    }

    /// <summary>
    /// Peak FP32 multiply-add rate, FLOP/s: each thread keeps eight independent vector accumulators of
    /// the widest accelerated width in registers (enough to cover the FMA latency) and runs
    /// <paramref name="iterations"/> rounds.
    /// </summary>
    public static double FmaFlops(int threads, long iterations = 20_000_000, int tries = 5)
    {
        double best = 0;
        var sinks = new float[threads * 16];
        bool wide = Vector512.IsHardwareAccelerated;
        int lanes = wide ? Vector512<float>.Count : Vector256<float>.Count;
        for (int t = 0; t < tries + 1; t++)
        {
            double seconds = RunOnThreads(threads, k => sinks[k * 16] = wide ? Fma512(iterations, 1f + k * 1e-7f) : Fma256(iterations, 1f + k * 1e-7f));
            if (t > 0) best = Math.Max(best, 2.0 * 8 * lanes * iterations * threads / seconds);
        }
        GC.KeepAlive(sinks);
        return best;
    }

    /// <summary>
    /// The CPU backend's own matmul rate with weights of <paramref name="type"/>, FLOP/s: its kernel
    /// (<see cref="MatMul"/>) on a <paramref name="rows"/> x <paramref name="cols"/> matrix times
    /// <paramref name="tokens"/> tokens, rows split into chunks as the device splits them.
    /// </summary>
    public static double MatmulFlops(GgmlType type, int threads, int tokens = 64, int rows = 256, int cols = 1024, double seconds = 0.3, int tries = 5)
        => 2.0 * cols * tokens * RowsPerSecond(type, threads, tokens, rows, cols, seconds, tries);

    /// <summary>Row lengths (inner dimension k) the probe measures: those of 1B-7B Llama layers (2048, 4096) and their MLPs (5632, 11008).</summary>
    public static readonly int[] DefaultRowLengths = [2048, 4096, 5632, 11008];

    /// <summary>
    /// The backend's matmul kernel for <paramref name="type"/> as the cost model sees it (see
    /// <see cref="Simulation.Catalog.MatmulKernel"/>), measured on each of <paramref name="rowLengths"/>
    /// (default <see cref="DefaultRowLengths"/>) with <paramref name="bytes"/> of weights, far more than
    /// the caches hold, and then used as measured (no efficiency factor):
    /// - tile width, and whether left-over tokens walk the weights again: from the backend
    ///   (<see cref="MatMul.TileTokens"/>, <see cref="MatMul.LeftoversRereadWeights"/>), properties of its code;
    /// - streaming rate: one token, weight bytes per second (the DRAM pass);
    /// - single-token rate: what each further token below a tile adds. With more than one token the
    ///   kernel walks the rows in chunks that stay in L2, so the first token pays the DRAM read and
    ///   the others only the arithmetic and unpacking. When the difference drowns in noise, the rate
    ///   of one token on a matrix that stays in the caches stands in;
    /// - tiled rate: what each further whole tile adds, from about 64 tokens against one tile.
    /// </summary>
    public static MatmulKernel MatmulKernel(GgmlType type, int threads, long bytes = 128L << 20, IReadOnlyList<int>? rowLengths = null)
    {
        var lengths = rowLengths ?? DefaultRowLengths;
        return new(MatMul.TileTokens(type), lengths.Select(k => MatmulRates(type, threads, bytes, k)))
        {
            LeftoversReread = MatMul.LeftoversRereadWeights(type, lengths.Min()),
        };
    }

    /// <summary>One row length's rates (see <see cref="MatmulKernel(GgmlType, int, long, IReadOnlyList{int}?)"/>).</summary>
    public static MatmulRates MatmulRates(GgmlType type, int threads, long bytes, int cols)
    {
        int tile = MatMul.TileTokens(type);
        long rowBytes = GgmlTypeInfo.RowBytes(type, cols);
        int rows = (int)Math.Max(1, bytes / rowBytes);
        double weights = (double)rows * cols;
        double Pass(int tokens) => rows / RowsPerSecond(type, threads, tokens, rows, cols, seconds: 0.25, tries: 3);
        double one = Pass(1);
        int below = Math.Max(2, tile - 1);
        double extra = Pass(below) - one;
        double single = extra > 0.1 * one ? 2 * weights * (below - 1) / extra : MatmulFlops(type, threads, tokens: 1, cols: cols);
        double tiled = single, tileStream = 0;
        if (tile > 1)
        {
            int whole = tile * Math.Max(2, 64 / tile);
            double first = Pass(tile);
            double more = Pass(whole) - first;
            tiled = more > 0 ? 2 * weights * (whole - tile) / more : single;
            tileStream = 2 * weights * tile / first;
        }
        return new MatmulRates(cols, tiled, single, rowBytes * rows / one, tileStream);
    }

    /// <summary>Weight rows processed per second by the kernel, the best of <paramref name="tries"/>.</summary>
    private static double RowsPerSecond(GgmlType type, int threads, int tokens, int rows, int cols, double seconds, int tries)
    {
        var w = new WeightMatrix("probe", type, rows, cols, TensorSource.FromArray(RandomRows(type, rows, cols)));
        var rng = new DeterministicRandom(11);
        var x = new float[tokens * cols];
        for (int i = 0; i < x.Length; i++) x[i] = (float)rng.NextGaussian();
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, act);
        var y = new float[tokens * rows];
        double best = 0;
        var rowsDone = new long[threads * 16];
        // Rows in chunks as ParallelMatMul splits them (eight per thread), each thread taking every
        // threads-th: a chunk's range is what the kernel walks, so it decides what a second pass finds in cache.
        int chunks = Math.Clamp(rows / 16, 1, threads * 8), perChunk = (rows + chunks - 1) / chunks;
        chunks = (rows + perChunk - 1) / perChunk;
        for (int t = 0; t < tries + 1; t++)
        {
            double elapsed = RunOnThreads(threads, k =>
            {
                long deadline = Stopwatch.GetTimestamp() + (long)(seconds * Stopwatch.Frequency);
                long n = 0;
                do
                {
                    for (int chunk = k; chunk < chunks; chunk += threads)
                    {
                        int start = chunk * perChunk, end = Math.Min(rows, start + perChunk);
                        MatMul.Compute(w, act, tokens, y, rows, start, end);
                        n += end - start;
                    }
                } while (Stopwatch.GetTimestamp() < deadline);
                rowsDone[k * 16] = n;
            });
            long total = 0;
            for (int k = 0; k < threads; k++) total += rowsDone[k * 16];
            if (t > 0) best = Math.Max(best, total / elapsed);
        }
        return best;
    }

    /// <summary>
    /// Rows of Gaussian weights in <paramref name="type"/>, scaled by 1/sqrt(<paramref name="cols"/>) as a
    /// model's projections are, so the probe sees the values a model holds (F16 weights that small
    /// include subnormal halves, which once ran through a slow path and could again). At most 256 distinct rows are quantised and then repeated: a large matrix would take long
    /// to quantise, and the quantized kernels' speed does not depend on the values.
    /// </summary>
    private static byte[] RandomRows(GgmlType type, int rows, int cols)
    {
        var rng = new DeterministicRandom(7);
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, cols);
        int distinct = Math.Min(rows, 256);
        var data = new byte[(long)rowBytes * rows];
        var row = new float[cols];
        double scale = 1 / Math.Sqrt(cols);
        if (!ReferenceQuantizer.CanQuantize(type)) RandomBlocks.Fill(type, data.AsSpan(0, distinct * rowBytes), 7); // types without an encoder
        else
            for (int r = 0; r < distinct; r++)
            {
                for (int i = 0; i < cols; i++) row[i] = (float)(rng.NextGaussian() * scale);
                ReferenceQuantizer.Quantize(type, row, data.AsSpan(r * rowBytes, rowBytes));
            }
        for (int r = distinct; r < rows; r++) data.AsSpan((r % distinct) * rowBytes, rowBytes).CopyTo(data.AsSpan(checked(r * rowBytes), rowBytes));
        return data;
    }

    /// <summary>Runs <paramref name="body"/>(k) on <paramref name="threads"/> dedicated threads started together; returns the wall time.</summary>
    private static double RunOnThreads(int threads, Action<int> body)
    {
        using var start = new Barrier(threads + 1);
        var workers = Enumerable.Range(0, threads).Select(k => new Thread(() =>
        {
            start.SignalAndWait();
            body(k);
        }) { IsBackground = true }).ToArray();
        foreach (var w in workers) w.Start();
        start.SignalAndWait();
        long t0 = Stopwatch.GetTimestamp();
        foreach (var w in workers) w.Join();
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static float Sum(ReadOnlySpan<float> data)
    {
        var v = MemoryMarshal.Cast<float, Vector<float>>(data);
        Vector<float> a = default, b = default, c = default, d = default;
        int i = 0;
        for (; i + 4 <= v.Length; i += 4)
        {
            a += v[i];
            b += v[i + 1];
            c += v[i + 2];
            d += v[i + 3];
        }
        for (; i < v.Length; i++) a += v[i];
        return Vector.Sum(a + b + c + d);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Fma512(long iterations, float seed)
    {
        var m = Vector512.Create(0.999999f);
        var add = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, add);
            a1 = Vector512.FusedMultiplyAdd(a1, m, add);
            a2 = Vector512.FusedMultiplyAdd(a2, m, add);
            a3 = Vector512.FusedMultiplyAdd(a3, m, add);
            a4 = Vector512.FusedMultiplyAdd(a4, m, add);
            a5 = Vector512.FusedMultiplyAdd(a5, m, add);
            a6 = Vector512.FusedMultiplyAdd(a6, m, add);
            a7 = Vector512.FusedMultiplyAdd(a7, m, add);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Fma256(long iterations, float seed)
    {
        var m = Vector256.Create(0.999999f);
        var add = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(seed), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (long i = 0; i < iterations; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, add);
            a1 = Vector256.FusedMultiplyAdd(a1, m, add);
            a2 = Vector256.FusedMultiplyAdd(a2, m, add);
            a3 = Vector256.FusedMultiplyAdd(a3, m, add);
            a4 = Vector256.FusedMultiplyAdd(a4, m, add);
            a5 = Vector256.FusedMultiplyAdd(a5, m, add);
            a6 = Vector256.FusedMultiplyAdd(a6, m, add);
            a7 = Vector256.FusedMultiplyAdd(a7, m, add);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7);
    }
}
