using System.Diagnostics;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Inference.Sampling;

namespace Actors.Benchmarks;

/// <summary>
/// `logit-rows MODEL [SEQUENCES] [THREADS] [ROUNDS]`: one greedy decode step of SEQUENCES sequences on a CPU last
/// stage, the two ways the runtime can finish it, alternated: whole logit rows (Forward copies [rows, vocab]
/// out, then a greedy sampler per row, as the stage actor does) against each row's best token
/// (ForwardTopK with k = 1, the selection in parallel over rows). Reports the minimum and median step of each
/// (the minimum is the run a shared machine left alone) and the difference, which is what top-k sampling saves.
/// </summary>
internal static class LogitRowsBenchmark
{
    public static int Run(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: logit-rows MODEL.gguf [SEQUENCES=32] [THREADS=2] [ROUNDS=40]"); return 2; }
        int sequences = args.Length > 1 ? int.Parse(args[1]) : 32, threads = args.Length > 2 ? int.Parse(args[2]) : 2, rounds = args.Length > 3 ? int.Parse(args[3]) : 40;
        using var model = LlamaModel.Open(args[0]);
        var c = model.Config;
        const int context = 64, blockSize = 16, width = context / blockSize;
        var kv = new KvCacheSpec(blockSize, sequences * width, c.HeadCountKv, c.HeadDim);
        using var device = new CpuDevice(threads: threads);
        using var stage = device.LoadStage(model, new LayerRange(0, c.BlockCount), kv, maxBatchTokens: sequences);
        var batch = DecodeBatch(sequences, context, blockSize, width, c.VocabSize);
        int vocab = c.VocabSize;
        var logits = new float[sequences * vocab];
        var samplers = Enumerable.Range(0, sequences).Select(_ => new Sampler(SamplingParameters.Greedy, vocab)).ToArray();
        var indices = new int[sequences];
        var values = new float[sequences];
        var whole = new List<double>();
        var topK = new List<double>();
        int agree = 0;
        for (int r = -3; r < rounds; r++)
        {
            long t = Stopwatch.GetTimestamp();
            stage.Forward(batch, ReadOnlySpan<float>.Empty, logits);
            for (int i = 0; i < sequences; i++) indices[i] = samplers[i].Sample(logits.AsSpan(i * vocab, vocab), []);
            double a = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            int first = indices[0];
            t = Stopwatch.GetTimestamp();
            stage.ForwardTopK(batch, ReadOnlySpan<float>.Empty, 1, indices, values);
            double b = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            if (indices[0] == first) agree++;
            if (r < 0) continue; // warm-up
            whole.Add(a);
            topK.Add(b);
        }
        whole.Sort();
        topK.Sort();
        Console.WriteLine($"{Path.GetFileName(args[0])}: vocab {vocab}, {sequences} sequences, {threads} threads, {rounds} alternated rounds; same token in {agree} of {rounds + 3}");
        Console.WriteLine($"{"path",-34}{"min ms",10}{"median ms",11}");
        Console.WriteLine($"{"whole logit rows + sampler",-34}{whole[0],10:F3}{whole[whole.Count / 2],11:F3}");
        Console.WriteLine($"{"top-1 per row (ForwardTopK)",-34}{topK[0],10:F3}{topK[topK.Count / 2],11:F3}");
        Console.WriteLine($"saved per step: {whole[0] - topK[0]:F3} ms at the minimum ({(whole[0] - topK[0]) / whole[0]:P1}), {whole[whole.Count / 2] - topK[topK.Count / 2]:F3} ms at the median; " +
            $"{4L * sequences * vocab / 1024} KB of logits per step not copied");
        return 0;
    }

    /// <summary>
    /// `logit-rows-tail VOCAB [SEQUENCES] [ROUNDS]`: only the part of a greedy step the two paths do differently,
    /// on random logits (no model, so the forward pass's noise is out): whole rows copied out of the stage and a
    /// greedy sampler per row, against the top-1 selection per row in place (one thread; the stage spreads it over
    /// its pool). Minimum and median of ROUNDS alternated repetitions.
    /// </summary>
    public static int Tail(string[] args)
    {
        if (args.Length < 1) { Console.Error.WriteLine("usage: logit-rows-tail VOCAB [SEQUENCES=32] [ROUNDS=200]"); return 2; }
        int vocab = int.Parse(args[0]), sequences = args.Length > 1 ? int.Parse(args[1]) : 32, rounds = args.Length > 2 ? int.Parse(args[2]) : 200;
        var rng = new Random(1);
        var stageLogits = new float[sequences * vocab];
        for (int i = 0; i < stageLogits.Length; i++) stageLogits[i] = (float)(rng.NextDouble() * 6 - 3);
        var output = new float[stageLogits.Length];
        var samplers = Enumerable.Range(0, sequences).Select(_ => new Sampler(SamplingParameters.Greedy, vocab)).ToArray();
        var indices = new int[sequences];
        var values = new float[sequences];
        var whole = new List<double>();
        var top = new List<double>();
        for (int r = -5; r < rounds; r++)
        {
            long t = Stopwatch.GetTimestamp();
            stageLogits.AsSpan().CopyTo(output);
            for (int i = 0; i < sequences; i++) indices[i] = samplers[i].Sample(output.AsSpan(i * vocab, vocab), []);
            double a = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            t = Stopwatch.GetTimestamp();
            for (int i = 0; i < sequences; i++) LogitTopK.Select(stageLogits.AsSpan(i * vocab, vocab), 1, indices.AsSpan(i, 1), values.AsSpan(i, 1));
            double b = Stopwatch.GetElapsedTime(t).TotalMilliseconds;
            if (r < 0) continue;
            whole.Add(a);
            top.Add(b);
        }
        whole.Sort();
        top.Sort();
        Console.WriteLine($"vocab {vocab}, {sequences} rows, {rounds} alternated rounds, one thread: whole rows copied + greedy sampler min {whole[0]:F3} ms, median {whole[whole.Count / 2]:F3} ms; " +
            $"top-1 in place min {top[0]:F3} ms, median {top[top.Count / 2]:F3} ms; saved {whole[0] - top[0]:F3} ms per step at the minimum");
        return 0;
    }

    /// <summary>Sequence s decodes its token at position context-1, its KV in blocks [s·width, (s+1)·width).</summary>
    private static StepBatch DecodeBatch(int sequences, int context, int blockSize, int width, int vocab)
    {
        var b = new StepBatch();
        b.EnsureCapacity(sequences, sequences, width);
        for (int s = 0; s < sequences; s++)
        {
            b.Tokens[s] = 3 + (s * 7919) % (vocab - 3);
            b.Positions[s] = context - 1;
            b.QueryStart[s] = s;
            b.ContextLength[s] = context;
            b.BatchStart[s] = context - 1;
            b.BatchEnd[s] = context;
            for (int j = 0; j < width; j++) b.BlockTables[s * width + j] = s * width + j;
            b.Slots[s] = (s * width + (context - 1) / blockSize) * blockSize + (context - 1) % blockSize;
            b.LogitTokens[s] = s;
        }
        b.QueryStart[sequences] = sequences;
        b.BlockTableWidth = width;
        b.TokenCount = sequences;
        b.SequenceCount = sequences;
        b.LogitCount = sequences;
        return b;
    }
}
