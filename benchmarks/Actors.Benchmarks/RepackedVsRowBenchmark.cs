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
/// cost, which is what one-token decode of a model that mostly fits L3 pays. Median of rounds, µs per product;
/// and the repack itself (source bytes in cache, so this is its compute, not the page-in).
/// </summary>
internal static class RepackedVsRowBenchmark
{
    public static int Run(string[] args)
    {
        var type = args.Length > 0 ? Enum.Parse<GgmlType>(args[0], true) : GgmlType.Q6_K;
        var shapes = (args.Length > 1 ? args[1] : "8192x1024,1024x2816,512x1024").Split(',')
            .Select(s => s.Split('x')).Select(p => (Rows: int.Parse(p[0]), Cols: int.Parse(p[1]))).ToArray();
        var tokenCounts = (args.Length > 2 ? args[2] : "1,4,64").Split(',').Select(int.Parse).ToArray();
        Console.WriteLine($"# {type}: row kernel vs repacked, 1 thread, median µs per product over alternated rounds");
        Console.WriteLine("| rows x cols | tokens | row kernel µs | repacked µs | row / repacked | repacking: first call | best of 10 (1 thread) |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var (rows, cols) in shapes)
            foreach (int tokens in tokenCounts)
                Measure(type, rows, cols, tokens);
        return 0;
    }

    private static void Measure(GgmlType type, int rows, int cols, int tokens)
    {
        var rng = new Random(rows * 31 + cols);
        int rb = (int)GgmlTypeInfo.RowBytes(type, cols);
        var bytes = new byte[(long)rows * rb];
        var row = new float[cols];
        for (int r = 0; r < rows; r++)
        {
            for (int i = 0; i < cols; i++) row[i] = (float)(0.02 * (rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5));
            ReferenceQuantizer.Quantize(type, row, bytes.AsSpan(r * rb, rb));
        }
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
        for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        var act = new PreparedActivations();
        MatMul.Prepare(type, x, tokens, cols, act);
        var y = new float[tokens * rows];
        int reps = (int)Math.Max(1, 2_000_000L / ((long)rows * cols / 256 * tokens));
        double Time(WeightMatrix w)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) MatMul.Compute(w, act, tokens, y, rows, 0, rows);
            return sw.Elapsed.TotalSeconds * 1e6 / reps;
        }
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 400) { Time(plain); Time(repacked); }
        const int Rounds = 15;
        var a = new double[Rounds];
        var b = new double[Rounds];
        for (int i = 0; i < Rounds; i++) { a[i] = Time(plain); b[i] = Time(repacked); }
        Array.Sort(a);
        Array.Sort(b);
        double ma = a[Rounds / 2], mb = b[Rounds / 2];
        Console.WriteLine($"| {rows} x {cols} | {tokens} | {ma:F1} | {mb:F1} | {ma / mb:F2}x | {firstMs:F2} ms | {repackMs:F2} ms ({bytes.Length / repackMs / 1e6:F2} GB/s) |");
    }
}
