using System.Diagnostics;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Quantization;

namespace Actors.Benchmarks;

/// <summary>
/// `repacked [TYPE] [ROWSxCOLS,...] [TOKENS,...]`: one thread, the repacked tile against the row kernel
/// on the same matrix, rounds alternated (row, repacked, row, repacked, ...) so a shared machine's
/// load hits both alike. Weights stay in cache (≤ a few MiB per shape): this is the kernels' compute
/// cost, which is what one-token decode of a model that mostly fits L3 pays. Best and median of 31 rounds, µs per product
/// (on a shared machine the best is the steadier estimate: interference only adds time);
/// and the repack itself (source bytes in cache, so this is its compute, not the page-in).
/// </summary>
internal static class RepackedVsRowBenchmark
{
    public static int Run(string[] args)
    {
        if (args.Length == 2 && args[0] == "--model") return RepackModel(args[1]);
        var type = args.Length > 0 ? Enum.Parse<GgmlType>(args[0], true) : GgmlType.Q6_K;
        var shapes = (args.Length > 1 ? args[1] : "8192x1024,1024x2816,512x1024").Split(',')
            .Select(s => s.Split('x')).Select(p => (Rows: int.Parse(p[0]), Cols: int.Parse(p[1]))).ToArray();
        var tokenCounts = (args.Length > 2 ? args[2] : "1,4,64").Split(',').Select(int.Parse).ToArray();
        Console.WriteLine($"# {type}: row kernel vs repacked, 1 thread, µs per product over 31 alternated rounds" +
                          (ThreadCpuClock.Requested ? " (the thread's CPU time: ACTORS_BENCH_CLOCK=thread)" : ""));
        Console.WriteLine("| rows x cols | tokens | row kernel µs (best / median) | repacked µs | row / repacked (best / median) | repacking: first call | best of 10 (1 thread) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (rows, cols) in shapes)
            foreach (int tokens in tokenCounts)
                Measure(type, rows, cols, tokens);
        return 0;
    }

    /// <summary>
    /// `repacked --model F.gguf`: a real load's repacking, one thread, one type after another (each type's first
    /// matrix pays its JIT): seconds and GB/s per type from the mapped file, page-in of the source included.
    /// </summary>
    private static int RepackModel(string path)
    {
        using var model = Actors.Inference.Model.LlamaModel.Open(path);
        var all = model.Layers.SelectMany(l => l.Matrices).Append(model.Output).Where(w => WeightRepacking.Supports(w.Type)).ToList();
        Console.WriteLine($"# {Path.GetFileName(path)}: repacking one type after another, 1 thread");
        foreach (var group in all.GroupBy(w => w.Type))
        {
            var first = Stopwatch.StartNew();
            var list = group.OrderByDescending(w => w.ByteSize).ToList();
            WeightRepacking.TryRepack(list[0]);
            double firstS = first.Elapsed.TotalSeconds;
            var rest = Stopwatch.StartNew();
            foreach (var w in list.Skip(1)) WeightRepacking.TryRepack(w);
            double restS = rest.Elapsed.TotalSeconds;
            long restBytes = list.Skip(1).Sum(w => w.ByteSize);
            Console.WriteLine($"{group.Key}: {list.Count} matrices, {list.Sum(w => w.ByteSize) / 1e6:F1} MB; first ({list[0].ByteSize / 1e6:F1} MB, with JIT) {firstS * 1e3:F1} ms; " +
                              $"the rest {restS * 1e3:F1} ms ({(restS > 0 ? restBytes / restS / 1e9 : 0):F2} GB/s)");
        }
        return 0;
    }

    private static void Measure(GgmlType type, int rows, int cols, int tokens)
    {
        // ggml's quantizer for the types ReferenceQuantizer lacks (IQ4_NL).
        var bytes = KernelBenchmark.RandomWeights(type, rows, cols, rows * 31 + cols);
        var plain = new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes));
        WeightMatrix repacked = null!;
        double repackMs = double.MaxValue, firstMs = 0;
        for (int i = 0; i < 10; i++)
        {
            repacked = new WeightMatrix("w", type, rows, cols, TensorSource.FromArray(bytes));
            var clock = Stopwatch.StartNew();
            if (!WeightRepacking.TryRepack(repacked)) throw new InvalidOperationException($"{type} has no repacked kernel on this machine");
            repackMs = Math.Min(repackMs, clock.Elapsed.TotalMilliseconds);
            if (i == 0) firstMs = repackMs;
        }
        var x = new float[tokens * cols];
        var rng = new Random(rows * 31 + cols + 1);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, act);
        var y = new float[tokens * rows];
        int reps = (int)Math.Max(1, 2_000_000L / ((long)rows * cols / 256 * tokens));
        bool cpuClock = ThreadCpuClock.Requested;
        double Time(WeightMatrix w)
        {
            double t0 = cpuClock ? ThreadCpuClock.Now() : 0;
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) MatMul.Compute(w, act, tokens, y, rows, 0, rows);
            return (cpuClock ? ThreadCpuClock.Now() - t0 : sw.Elapsed.TotalSeconds) * 1e6 / reps;
        }
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 400) { Time(plain); Time(repacked); }
        const int Rounds = 31;
        var a = new double[Rounds];
        var b = new double[Rounds];
        for (int i = 0; i < Rounds; i++) { a[i] = Time(plain); b[i] = Time(repacked); }
        Array.Sort(a);
        Array.Sort(b);
        double ma = a[Rounds / 2], mb = b[Rounds / 2];
        Console.WriteLine($"| {rows} x {cols} | {tokens} | {a[0]:F1} / {ma:F1} | {b[0]:F1} / {mb:F1} | {a[0] / b[0]:F2}x / {ma / mb:F2}x | {firstMs:F2} ms | {repackMs:F2} ms ({bytes.Length / repackMs / 1e6:F2} GB/s) |");
    }
}
