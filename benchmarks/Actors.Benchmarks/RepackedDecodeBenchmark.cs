using System.Diagnostics;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Quantization;

namespace Actors.Benchmarks;

/// <summary>
/// `repacked-decode [--types Q4_K] [--shapes 1024x1024,...] [--rounds N]`: one token (decode) through the
/// row kernel and through the repacked tile on the same weights, rounds interleaved so a shared machine
/// hits both alike; and the repacking itself (source bytes per second). Times are per matrix, reported
/// as source (file) bytes per second so both layouts compare on the same work.
/// </summary>
internal static class RepackedDecodeBenchmark
{
    private const long WorkingSet = 256L << 20; // ≫ L3 (32 MiB): every copy comes from DRAM
    private static readonly CpuWorkerPool Pool = new(2, "bench");

    public static int Run(string[] args)
    {
        GgmlType[] types = [GgmlType.Q4_K];
        (int Rows, int Cols)[] shapes = [(1024, 1024), (2816, 1024), (1024, 2816), (4096, 4096)];
        int rounds = 5;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--types": types = Array.ConvertAll(args[++i].Split(','), s => Enum.Parse<GgmlType>(s, true)); break;
                case "--rounds": rounds = int.Parse(args[++i]); break;
                case "--shapes":
                    shapes = Array.ConvertAll(args[++i].Split(','), s => { var p = s.Split('x'); return (int.Parse(p[0]), int.Parse(p[1])); });
                    break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
            }
        }
        Console.WriteLine($"# one token: row kernel vs repacked tile, {Environment.ProcessorCount} cores, .NET {Environment.Version}; GB/s of source bytes, best interval per round");
        Console.WriteLine($"# VNNI as .NET sees it: AvxVnni {System.Runtime.Intrinsics.X86.AvxVnni.IsSupported}, AvxVnniInt8.V512 {System.Runtime.Intrinsics.X86.AvxVnniInt8.V512.IsSupported}, " +
                          $"Avx10v1 {System.Runtime.Intrinsics.X86.Avx10v1.IsSupported}, Avx10v1.V512 {System.Runtime.Intrinsics.X86.Avx10v1.V512.IsSupported} (no Avx512Vnni class in .NET 10)");
        Console.WriteLine("| type | rows x cols | round | row L2 1T | repacked L2 1T | row DRAM 1T | repacked DRAM 1T | row DRAM 2T | repacked DRAM 2T | repack GB/s 1T | copy alone GB/s 1T |");
        Console.WriteLine("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var type in types)
            foreach (var (rows, cols) in shapes)
                Shape(type, rows, cols, rounds);
        return 0;
    }

    private static void Shape(GgmlType type, int rows, int cols, int rounds)
    {
        int rb = (int)GgmlTypeInfo.RowBytes(type, cols);
        var one = Weights(type, rows, cols, rb);
        long size = one.Length;
        int copies = (int)Math.Max(2, WorkingSet / size);
        var rowWise = new WeightMatrix[copies];
        var repacked = new WeightMatrix[copies];
        for (int k = 0; k < copies; k++)
        {
            rowWise[k] = new WeightMatrix($"r{k}", type, rows, cols, TensorSource.FromArray((byte[])one.Clone()));
            repacked[k] = new WeightMatrix($"p{k}", type, rows, cols, TensorSource.FromArray((byte[])one.Clone()));
            if (!WeightRepacking.TryRepack(repacked[k])) throw new InvalidOperationException($"{type} has no repacked kernel on this machine");
        }
        var act = new PreparedActivations();
        var rng = new Random(2);
        var x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        MatMul.Prepare(type, x, 1, cols, act);
        var y = new float[rows];
        var y2 = new float[rows];
        // The two layouts must give the same bits at one token (the repacked tile folds as the row kernel does).
        MatMul.Compute(rowWise[0], act, 1, y, rows, 0, rows);
        MatMul.Compute(repacked[0], act, 1, y2, rows, 0, rows);
        int diff = 0;
        for (int r = 0; r < rows; r++) if (BitConverter.SingleToInt32Bits(y[r]) != BitConverter.SingleToInt32Bits(y2[r])) diff++;
        if (diff > 0) Console.WriteLine($"  ({diff} of {rows} outputs differ in bits between the layouts)");

        // Two threads as a forward pass runs them: the device's worker pool, rows in chunks claimed dynamically.
        var mm = new ParallelMatMul();
        void One(WeightMatrix w, int threads)
        {
            if (threads == 1) { MatMul.Compute(w, act, 1, y, rows, 0, rows); return; }
            mm.Clear();
            mm.Add(w, act, y);
            mm.Run(Pool, 1);
        }
        double Dram(WeightMatrix[] ws, int threads)
        {
            double best = double.MaxValue;
            for (int rep = 0; rep < 3; rep++)
                foreach (var w in ws)
                {
                    long t0 = Stopwatch.GetTimestamp();
                    One(w, threads);
                    best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
                }
            return size / best / 1e9;
        }
        double Hot(WeightMatrix w)
        {
            // The first rows totalling ≤ 384 KiB of source bytes stay in L2 across passes.
            int hot = Math.Max(16, Math.Min(rows, (384 << 10) / rb) / 16 * 16);
            double best = double.MaxValue;
            for (int rep = 0; rep < 20; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                for (int p = 0; p < 20; p++) MatMul.Compute(w, act, 1, y, rows, 0, hot);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds / 20);
            }
            return (double)hot * rb / best / 1e9;
        }
        double Repack()
        {
            double best = double.MaxValue;
            for (int rep = 0; rep < 3; rep++)
            {
                var w = new WeightMatrix("c", type, rows, cols, TensorSource.FromArray(one));
                long t0 = Stopwatch.GetTimestamp();
                WeightRepacking.TryRepack(w);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return size / best / 1e9;
        }
        double CopyOnly()
        {
            // The repacking's copy alone, into one buffer allocated (and touched) once: no allocation, no page faults.
            if (type != GgmlType.Q4_K) return double.NaN;
            int blocks = cols / 256, groups = rows / 16;
            var dst = new byte[(long)groups * blocks * RepackedQ4_K.BlockBytes];
            double best = double.MaxValue;
            for (int rep = 0; rep < 5; rep++)
            {
                long t0 = Stopwatch.GetTimestamp();
                for (int g = 0; g < groups; g++)
                    RepackedQ4_K.FullGroup(one.AsSpan(g * 16 * rb, 16 * rb), rb, blocks, ref dst[(long)g * blocks * RepackedQ4_K.BlockBytes]);
                best = Math.Min(best, Stopwatch.GetElapsedTime(t0).TotalSeconds);
            }
            return size / best / 1e9;
        }
        // Warm up (tiered JIT) both paths.
        var sw = Stopwatch.StartNew();
        while (sw.ElapsedMilliseconds < 500) { One(rowWise[0], 1); One(repacked[0], 1); One(rowWise[1], 2); One(repacked[1], 2); }
        Repack();
        for (int round = 1; round <= rounds; round++)
        {
            double rl2 = Hot(rowWise[0]), pl2 = Hot(repacked[0]);
            double r1 = Dram(rowWise, 1), p1 = Dram(repacked, 1);
            double r2 = Dram(rowWise, 2), p2 = Dram(repacked, 2);
            double rp = Repack(), cp = CopyOnly();
            Console.WriteLine($"| {type} | {rows} x {cols} | {round} | {rl2:F1} | {pl2:F1} | {r1:F1} | {p1:F1} | {r2:F1} | {p2:F1} | {rp:F2} | {cp:F2} |");
        }
    }

    // The same weights as before for the types ReferenceQuantizer encodes; ggml's quantizer for the others (Q5_0, IQ4_NL, IQ4_XS, ...).
    private static byte[] Weights(GgmlType type, int rows, int cols, int rb) => KernelBenchmark.RandomWeights(type, rows, cols, 1);
}
