using System.Diagnostics;
using Actors.Inference.Cpu.Ops;

namespace Actors.Benchmarks;

/// <summary>
/// `attention [context] [headDim]`: nanoseconds per query-key pair of one query head, single thread,
/// the reference order (<see cref="PagedAttention.AttendHeadReference"/>, the kernel before the tiled one)
/// , <see cref="PagedAttention.AttendHead"/> (tiled, same bits) and <see cref="PagedAttention.AttendHeads"/>
/// for four query heads of one KV head side by side in one run, rounds
/// alternated so a shared machine's load falls on both. K/V over a shuffled block table of 16 slots.
/// </summary>
public static class AttentionBenchmark
{
    public static int Run(string[] args)
    {
        int context = args.Length > 0 ? int.Parse(args[0]) : 512;
        var dims = args.Length > 1 ? [int.Parse(args[1])] : new[] { 64, 128 };
        foreach (int headDim in dims) Measure(context, headDim);
        return 0;
    }

    private static void Measure(int context, int headDim)
    {
        const int blockSize = 16, kvHeads = 2;
        int kvDim = kvHeads * headDim, blocks = (context + blockSize - 1) / blockSize;
        var rng = new Random(1);
        var table = Enumerable.Range(0, blocks).OrderBy(_ => rng.Next()).ToArray();
        var k = new float[blocks * blockSize * kvDim];
        var v = new float[k.Length];
        for (int i = 0; i < k.Length; i++) { k[i] = (float)(rng.NextDouble() * 2 - 1); v[i] = (float)(rng.NextDouble() * 2 - 1); }
        var q = Enumerable.Range(0, headDim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var scratch = new float[PagedAttention.ScratchLength(context, headDim)];
        var a = new float[headDim];
        var b = new float[headDim];
        float scale = 1 / MathF.Sqrt(headDim);
        void Old() => PagedAttention.AttendHeadReference(q, k, v, kvDim, headDim, table, blockSize, 0, context, scale, 0f, scratch, a);
        void New() => PagedAttention.AttendHead(q, k, v, kvDim, headDim, table, blockSize, 0, context, scale, 0f, scratch, b);
        const int group = 4; // query heads per KV head, as in Llama's GQA
        var qg = Enumerable.Range(0, group * headDim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        q.CopyTo(qg, 0);
        var scratchG = new float[group * scratch.Length];
        var og = new float[group * headDim];
        void Group() => PagedAttention.AttendHeads(group, qg, k, v, kvDim, headDim, table, blockSize, 0, context, scale, 0f, scratchG, og);
        Old(); New(); Group();
        if (!a.AsSpan().SequenceEqual(b) || !a.AsSpan().SequenceEqual(og.AsSpan(0, headDim)))
            throw new InvalidOperationException("the tiled kernel's bits differ from the reference");
        int reps = Math.Max(1, 40_000_000 / (context * headDim));
        for (int i = 0; i < 50; i++) { Old(); New(); Group(); } // past tiered compilation
        double bestOld = double.MaxValue, bestNew = double.MaxValue, bestGroup = double.MaxValue;
        for (int round = 0; round < 10; round++)
        {
            bestOld = Math.Min(bestOld, Time(Old, reps));
            bestNew = Math.Min(bestNew, Time(New, reps));
            bestGroup = Math.Min(bestGroup, Time(Group, reps) / group);
        }
        double perPair(double s) => s / reps / context * 1e9;
        Console.WriteLine($"head_dim {headDim}, context {context}: reference {perPair(bestOld):F2} ns/pair, tiled {perPair(bestNew):F2} ns/pair, {bestOld / bestNew:F2}x; {group} heads of one KV head together {perPair(bestGroup):F2} ns per head and key, {bestOld / bestGroup:F2}x (bits equal)");
    }

    private static double Time(Action f, int reps)
    {
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) f();
        return sw.Elapsed.TotalSeconds;
    }
}
