using System.Diagnostics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Quantization;

namespace Actors.Benchmarks;

/// <summary>
/// `kernels`: decode (one token) weight bandwidth per type next to the machine's plain read
/// bandwidth, and prefill GFLOP/s, for our kernels and for ggml's on the same bytes.
/// Decode cycles through enough copies of each matrix (≥ 512 MiB) that no copy is still in cache.
/// </summary>
internal static class KernelBenchmark
{
    private const long WorkingSet = 512L << 20;

    private sealed class Options
    {
        public bool Quick, NoGgml, Ceiling, PrefillOnly, BatchOrder;
        public GgmlType[] Types = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K];
        public KernelPath Path = KernelPath.Auto;
        public (int Rows, int Cols)[]? Shapes;
    }

    /// <summary>--batch-order: prefill tokens multiplied in llama.cpp's batch order, as the engine does for a prompt.</summary>
    private static bool BatchOrder;

    public static int Run(string[] args)
    {
        var o = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick": o.Quick = true; break;
                case "--no-ggml": o.NoGgml = true; break;
                case "--ceiling": o.Ceiling = true; break;
                case "--prefill-only": o.PrefillOnly = true; break;
                case "--batch-order": o.BatchOrder = true; break;
                case "--types": o.Types = Array.ConvertAll(args[++i].Split(','), s => Enum.Parse<GgmlType>(s, true)); break;
                case "--path": o.Path = Enum.Parse<KernelPath>(args[++i], true); break;
                case "--shapes":
                    o.Shapes = Array.ConvertAll(args[++i].Split(','), s =>
                    {
                        var p = s.Split('x');
                        return p.Length == 2 && int.TryParse(p[0], out int r) && int.TryParse(p[1], out int c) && r > 0 && c > 0
                            ? (r, c) : throw new ArgumentException($"--shapes: '{s}' is not ROWSxCOLS (e.g. 4096x11008)");
                    });
                    break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        KernelDispatch.Default = o.Path;
        BatchOrder = o.BatchOrder;
        string? ggmlError = "disabled by --no-ggml";
        bool ggml = !o.NoGgml && Ggml.TryLoad(out ggmlError);
        Console.WriteLine($"# CPU matmul kernels — {Environment.ProcessorCount} cores, .NET {Environment.Version}, kernel path {(o.Path == KernelPath.Auto ? KernelDispatch.Best : o.Path)}, " +
                          $"AVX-512BW {Avx512BW.IsSupported}, VBMI {Avx512Vbmi.IsSupported}, GFNI {Gfni.IsSupported}, AVX-VNNI {AvxVnni.IsSupported}");
        Console.WriteLine(ggml ? "# ggml (llama.cpp) from LLamaSharp.Backend.Cpu: plain CPU tensors (no repack buffer)" : $"# ggml comparison skipped: {ggmlError}");
        Console.WriteLine();

        if (o.Ceiling)
        {
            // Kernel tuning aid: only the in-cache decode ceiling, 1 thread, best of many short repeats.
            foreach (var type in o.Types) Console.WriteLine($"{type,-5} in-L2 decode ceiling {Ceiling(type, 4096, 4096, 15):F1} GB/s");
            return 0;
        }
        double fmaPeak = ComputePeak.Fma512(), vnniPeak = ComputePeak.Vnni256();
        Console.WriteLine($"## Measured one-thread peak: f32 FMA (512-bit) {fmaPeak:F1} GFLOP/s, int8 vpdpbusd (AVX-VNNI, 256-bit) {vnniPeak:F1} GOP/s");
        Console.WriteLine();
        if (!o.PrefillOnly)
        {
        IntDotThroughput.Print();

        var mem = new MemoryBandwidth((int)WorkingSet);
        int reps = o.Quick ? 5 : 9;
        Console.WriteLine("## Decode (tokens = 1): weight bytes read per second");
        Console.WriteLine();
        Console.WriteLine("GB/s of weight bytes; best single-copy interval over all copies (≥ 512 MiB in total, so each comes from DRAM) and repeats.");
        Console.WriteLine("'in L2': our 1-thread kernel on ≤ 512 KiB of rows that stay cached (its compute ceiling). 'mem read': a plain");
        Console.WriteLine("streaming read of equal-sized segments of a 512 MiB buffer, timed the same way; '%' = ours / mem read, same threads.");
        Console.WriteLine();
        Console.WriteLine("| type | rows x cols | MiB | in L2 1T | mem read 1T | ours 1T | % | ggml 1T | mem read 2T | ours 2T | % | ggml 2T |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        (int Rows, int Cols)[] shapes = o.Shapes ?? (o.Quick ? [(4096, 4096)] : [(4096, 4096), (11008, 4096), (4096, 11008)]);
        foreach (var type in o.Types)
            foreach (var (rows, cols) in shapes)
                Decode(type, rows, cols, mem, reps, ggml);
        Console.WriteLine();
        }

        Console.WriteLine("## Prefill: GFLOP/s (2·rows·cols·tokens / time; best 512-row chunk × chunks, plus our activation preparation)");
        Console.WriteLine();
        Console.WriteLine("'repacked': weights in the tiled int8 layout (WeightRepacking), where the type has one; '% peak': repacked 1T over the one-thread peak of its instruction.");
        Console.WriteLine(o.BatchOrder ? "Tokens in llama.cpp's batch order (--batch-order: a prompt's tokens)." : "Tokens in llama.cpp's one-token order (add --batch-order for a prompt's).");
        Console.WriteLine();
        Console.WriteLine("| type | rows x cols | tokens | ours 1T | repacked 1T | % peak | ggml 1T | ours 2T | repacked 2T | ggml 2T |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        int[] tokenCounts = o.Quick ? [32, 128] : [32, 128, 512];
        foreach (var type in o.Types)
            foreach (int tokens in tokenCounts)
                Prefill(type, 4096, 4096, tokens, o.Quick ? 3 : 5, ggml, WeightRepacking.Supports(type) ? vnniPeak : fmaPeak);
        return 0;
    }

    /// <summary>One quantized matrix from random Gaussian weights (scale 0.02, like trained weights).</summary>
    internal static byte[] RandomWeights(GgmlType type, int rows, int cols, int seed)
    {
        var rng = new Random(seed);
        int rb = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[(long)rows * rb];
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < cols; i++) row[i] = (float)(0.02 * (rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5));
            if (ReferenceQuantizer.CanQuantize(type)) ReferenceQuantizer.Quantize(type, row, bytes.AsSpan(r * rb, rb));
            else
            {
                // Types we have no encoder for: ggml's own quantizer (needs ggml loaded).
                var one = new byte[rb];
                if (!Ggml.TryLoad(out string? error)) throw new InvalidOperationException($"{type} weights need ggml's quantizer: {error}");
                Ggml.ggml_quantize_chunk((int)type, row, one, 0, 1, cols, IntPtr.Zero);
                one.CopyTo(bytes.AsSpan(r * rb, rb));
            }
        }
        return bytes;
    }

    private static float[] RandomActivations(int n, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    /// <summary>A window of a shared array: many matrices over one allocation.</summary>
    private sealed class SliceSource(byte[] bytes, long start) : TensorSource
    {
        public override ReadOnlySpan<byte> Span(long offset, int length) => bytes.AsSpan(checked((int)(start + offset)), length);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for a quarter second first so tiered compilation has promoted the
    /// kernels (tier-0 code of a SIMD loop is many times slower than the optimized code).
    /// </summary>
    private static void WarmUp(Action body)
    {
        var sw = Stopwatch.StartNew();
        do body(); while (sw.ElapsedMilliseconds < 250);
    }

    /// <summary>
    /// The fastest repeat: on a machine shared with other work, interference only ever adds time, so
    /// the minimum estimates what the code can do (memory bandwidth is measured the same way).
    /// </summary>
    private static double Best(double[] v)
    {
        Array.Sort(v);
        return v[0];
    }

    private static double Ceiling(GgmlType type, int rows, int cols, int reps)
    {
        var bytes = RandomWeights(type, 64, cols, 1);
        int rb = bytes.Length / 64;
        var w = new WeightMatrix("hot", type, 64, cols, TensorSource.FromArray(bytes));
        var act = new PreparedActivations();
        MatMul.Prepare(type, RandomActivations(cols, 2), 1, cols, act);
        var y = new float[64];
        int passes = (int)Math.Max(1, (32L << 20) / bytes.Length);
        void Pass() { for (int p = 0; p < passes; p++) MatMul.Compute(w, act, 1, y, 64, 0, 64); }
        WarmUp(Pass);
        var times = new double[reps];
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            Pass();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        return (double)passes * bytes.Length / Best(times) / 1e9;
    }

    private static void Decode(GgmlType type, int rows, int cols, MemoryBandwidth mem, int reps, bool ggml)
    {
        var one = RandomWeights(type, rows, cols, 1);
        long size = one.Length;
        int copies = (int)Math.Max(2, (WorkingSet + size - 1) / size);
        if (copies * size > int.MaxValue) copies = (int)(int.MaxValue / size);
        var all = GC.AllocateUninitializedArray<byte>((int)(copies * size), pinned: true);
        for (int k = 0; k < copies; k++) one.CopyTo(all, k * size);
        var ws = new WeightMatrix[copies];
        for (int k = 0; k < copies; k++) ws[k] = new WeightMatrix($"w{k}", type, rows, cols, new SliceSource(all, k * size));
        var x = RandomActivations(cols, 2);
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, 1, cols, act);
        var y = new float[rows];

        // One matrix copy per timed interval; a pass touches every copy once, so each is evicted
        // (512 MiB ≫ L3) before it is read again. Best interval over all copies and repeats.
        double Ours(int threads)
        {
            int half = rows / 2;
            void One(WeightMatrix w) => Parallel2.Run(threads, t =>
            {
                int r0 = threads == 1 ? 0 : t == 0 ? 0 : half, r1 = threads == 1 ? rows : t == 0 ? half : rows;
                MatMul.Compute(w, act, 1, y, rows, r0, r1);
            });
            WarmUp(() => { foreach (var w in ws) One(w); });
            double best = double.MaxValue;
            for (int i = 0; i < reps; i++)
                foreach (var w in ws)
                {
                    var sw = Stopwatch.StartNew();
                    One(w);
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
                }
            return size / best / 1e9;
        }

        // Compute ceiling: the same kernel on rows totalling ≤ 512 KiB, which stay in L2 across passes.
        int hotRows = (int)Math.Max(8, Math.Min(rows, (512 << 10) / (size / rows)));
        var hot = new WeightMatrix("hot", type, hotRows, cols, new SliceSource(all, 0));
        double InCache()
        {
            var times = new double[reps];
            int passes = (int)Math.Max(1, (64L << 20) / ((long)hotRows * (size / rows)));
            void Pass() { for (int p = 0; p < passes; p++) MatMul.Compute(hot, act, 1, y, rows, 0, hotRows); }
            WarmUp(Pass);
            for (int i = 0; i < reps; i++)
            {
                var sw = Stopwatch.StartNew();
                Pass();
                times[i] = sw.Elapsed.TotalSeconds;
            }
            return passes * (double)hotRows * (size / rows) / Best(times) / 1e9;
        }

        double cache1 = InCache();
        double mem1 = mem.Measure(1, reps, size), ours1 = Ours(1);
        double mem2 = mem.Measure(2, reps, size), ours2 = Ours(2);
        string g1 = "n/a", g2 = "n/a";
        if (ggml)
        {
            using var g = new GgmlMulMat(type, rows, cols, 1, copies, all, size, x);
            g1 = $"{size / g.Time(1, reps) / 1e9:F1}";
            g2 = $"{size / g.Time(2, reps) / 1e9:F1}";
        }
        Console.WriteLine($"| {type} | {rows} x {cols} | {size / 1048576.0:F1} | {cache1:F1} | {mem1:F1} | {ours1:F1} | {100 * ours1 / mem1:F0}% | {g1} | {mem2:F1} | {ours2:F1} | {100 * ours2 / mem2:F0}% | {g2} |");
    }

    /// <summary>
    /// Prefill GFLOP/s. The product is timed in row chunks of 512 rows (split between the threads), each
    /// chunk on its own, and the best chunk time × chunk count is reported (plus our activation
    /// preparation, timed separately): short intervals survive a shared machine. ggml gets the same
    /// treatment: one 512-row weight tensor and graph per chunk.
    /// </summary>
    private static void Prefill(GgmlType type, int rows, int cols, int tokens, int reps, bool ggml, double peak)
    {
        const int ChunkRows = 512;
        int chunks = rows / ChunkRows;
        var bytes = RandomWeights(type, rows, cols, 3);
        var rowWise = new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes));
        var repacked = new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes));
        bool hasRepacked = WeightRepacking.TryRepack(repacked);
        var x = RandomActivations(tokens * cols, 4);
        var act = new PreparedActivations();
        var y = new float[tokens * rows];
        double flop = 2.0 * rows * cols * tokens;

        WarmUp(() => MatMul.Prepare(type, x, tokens, cols, act));
        double prep = double.MaxValue;
        for (int i = 0; i < reps; i++)
        {
            var sw = Stopwatch.StartNew();
            MatMul.Prepare(type, x, tokens, cols, act);
            // Every token as a prompt token (llama.cpp's batch order), as the engine multiplies a prompt.
            if (BatchOrder) act.SetTokenOrder(Enumerable.Repeat(true, tokens).ToArray());
            prep = Math.Min(prep, sw.Elapsed.TotalSeconds);
        }

        double Ours(int threads, WeightMatrix w)
        {
            void Chunk(int c) => Parallel2.Run(threads, t =>
            {
                int r0 = c * ChunkRows, half = ChunkRows / 2;
                int a = threads == 1 ? r0 : t == 0 ? r0 : r0 + half, b = threads == 1 ? r0 + ChunkRows : t == 0 ? r0 + half : r0 + ChunkRows;
                MatMul.Compute(w, act, tokens, y, rows, a, b);
            });
            WarmUp(() => Chunk(0));
            double best = double.MaxValue;
            for (int i = 0; i < reps; i++)
                for (int c = 0; c < chunks; c++)
                {
                    var sw = Stopwatch.StartNew();
                    Chunk(c);
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
                }
            return flop / (prep + best * chunks) / 1e9;
        }

        double o1 = Ours(1, rowWise), o2 = Ours(2, rowWise);
        string r1 = "n/a", r2 = "n/a", share = "n/a";
        if (hasRepacked)
        {
            double a = Ours(1, repacked);
            r1 = $"{a:F1}";
            r2 = $"{Ours(2, repacked):F1}";
            share = $"{100 * a / peak:F0}%";
        }
        string g1 = "n/a", g2 = "n/a";
        if (ggml)
        {
            int chunkBytes = bytes.Length / chunks;
            using var g = new GgmlMulMat(type, ChunkRows, cols, tokens, chunks, bytes, chunkBytes, x);
            g1 = $"{flop / (g.Time(1, reps) * chunks) / 1e9:F1}";
            g2 = $"{flop / (g.Time(2, reps) * chunks) / 1e9:F1}";
        }
        Console.WriteLine($"| {type} | {rows} x {cols} | {tokens} | {o1:F1} | {r1} | {share} | {g1} | {o2:F1} | {r2} | {g2} |");
    }

    /// <summary>A ggml graph of <c>copies</c> mul_mats (one per weight copy) sharing one activation tensor.</summary>
    private sealed class GgmlMulMat : IDisposable
    {
        private readonly IntPtr _ctx, _work;
        private readonly IntPtr[] _graphs;
        private readonly long _workBytes;

        public GgmlMulMat(GgmlType type, int rows, int cols, int tokens, int copies, byte[] weights, long copyBytes, float[] x)
        {
            long need = copies * copyBytes + 3L * tokens * cols * 4 + (long)copies * rows * tokens * 4 + (64L << 20);
            _ctx = Ggml.Init(need);
            // ggml_graph_compute_with_ctx carves a new work buffer out of the context it is given on
            // every call; give it a context of its own that is reset before each call.
            _workBytes = 4L * tokens * cols * 4 + (16L << 20);
            _work = Ggml.Init(_workBytes);
            if (_ctx == IntPtr.Zero || _work == IntPtr.Zero) throw new InvalidOperationException("ggml_init failed");
            var xt = Ggml.ggml_new_tensor_2d(_ctx, (int)GgmlType.F32, cols, tokens);
            Ggml.Write(xt, x);
            _graphs = new IntPtr[copies];
            for (int k = 0; k < copies; k++)
            {
                var wt = Ggml.ggml_new_tensor_2d(_ctx, (int)type, cols, rows);
                Ggml.Write(wt, weights, (int)(k * copyBytes), (int)copyBytes);
                _graphs[k] = Ggml.ggml_new_graph(_ctx);
                Ggml.ggml_build_forward_expand(_graphs[k], Ggml.ggml_mul_mat(_ctx, wt, xt));
            }
        }

        /// <summary>Best seconds of one mul_mat (one weight copy) over all copies and repeats, timed like ours.</summary>
        public double Time(int threads, int reps)
        {
            WarmUp(() => { foreach (var g in _graphs) Compute(g, threads); });
            double best = double.MaxValue;
            for (int i = 0; i < reps; i++)
                foreach (var g in _graphs)
                {
                    Ggml.ggml_reset(_work);
                    var sw = Stopwatch.StartNew();
                    int status = Ggml.ggml_graph_compute_with_ctx(_work, g, threads);
                    best = Math.Min(best, sw.Elapsed.TotalSeconds);
                    if (status != 0) throw new InvalidOperationException($"ggml_graph_compute returned {status}");
                }
            return best;
        }

        private void Compute(IntPtr graph, int threads)
        {
            Ggml.ggml_reset(_work);
            Ggml.ggml_graph_compute_with_ctx(_work, graph, threads);
        }

        public void Dispose()
        {
            Ggml.ggml_free(_work);
            Ggml.ggml_free(_ctx);
        }
    }
}
