using System.Diagnostics;
using System.Globalization;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Interop.Cuda;

namespace Actors.Cuda.Tests.GpuCheck;

/// <summary>
/// Shape and sizes of the benchmark. Defaults: two layers of a Llama-2-7B-shaped model (dim 4096, ffn
/// 11008, GQA 32/8) with an 8192-token vocabulary, so its 0.4 G parameters (0.85 GB in F16, far
/// beyond any L2) are generated in seconds on the GPU machine's CPUs.
/// </summary>
public sealed record BenchmarkOptions
{
    public IReadOnlyList<string> Types { get; init; } = ["F16", "Q8_0", "Q4_K_M"];
    public IReadOnlyList<int> Batches { get; init; } = [1, 8, 64];
    public int Dim { get; init; } = 4096;
    public int Layers { get; init; } = 2;
    public int Ffn { get; init; } = 11008;
    public int Heads { get; init; } = 32;
    public int KvHeads { get; init; } = 8;
    public int Vocab { get; init; } = 8192;
    public int Prompt { get; init; } = 128;
    public int Steps { get; init; } = 16;
    public long CopyBytes { get; init; } = 512L << 20;
}

/// <summary>One row of the benchmark: a weight type at a batch size.</summary>
public sealed record BenchmarkRow(string Type, int Batch, double PrefillTokensPerSecond, double DecodeStepMs, double DecodeTokensPerSecond,
    double WeightGBps, double CopyGBps)
{
    public double OfCopy => CopyGBps > 0 ? WeightGBps / CopyGBps : 0;

    /// <summary>The machine-readable line run.sh turns into JSON.</summary>
    public string ToLine() => string.Create(CultureInfo.InvariantCulture,
        $"BENCH type={Type} batch={Batch} prefill_tok_s={PrefillTokensPerSecond:0} decode_step_ms={DecodeStepMs:0.000} decode_tok_s={DecodeTokensPerSecond:0.0} weight_gb_s={WeightGBps:0.0} copy_gb_s={CopyGBps:0.0} of_copy={OfCopy:0.000}");
}

/// <summary>
/// Decode and prefill speed of the CUDA stage executor on generated models (random weights: only
/// speed means anything). Decode reads every weight matrix once per step, so weight bytes per step
/// time is the bandwidth it achieves; it is compared with the card's measured device-to-device copy
/// bandwidth (read + write bytes per second), the practical ceiling.
/// </summary>
public static class Benchmark
{
    public static IReadOnlyList<BenchmarkRow> Run(CudaDevice device, BenchmarkOptions o, TextWriter output)
    {
        double copy = MeasureCopyGBps(device, o.CopyBytes);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"COPY device-to-device {copy:0.0} GB/s (read + write; peak from clocks {device.Info.PeakMemoryBandwidthBytesPerSecond / 1e9:0} GB/s)"));
        var rows = new List<BenchmarkRow>();
        foreach (string type in o.Types)
        {
            var spec = new SyntheticModelSpec
            {
                Dim = o.Dim, Layers = o.Layers, Ffn = o.Ffn, Heads = o.Heads, KvHeads = o.KvHeads, Vocab = o.Vocab, Context = 4096, WeightType = type,
            };
            var sw = Stopwatch.StartNew();
            string path = SyntheticModelGenerator.EnsureCached(spec);
            output.WriteLine($"model {Path.GetFileName(path)} ready in {sw.Elapsed.TotalSeconds:0.0} s");
            using var model = LlamaModel.Open(path);
            foreach (var row in RunModel(device, model, type, o, copy, output))
            {
                rows.Add(row);
                output.WriteLine(row.ToLine());
                output.Flush();
            }
        }
        output.WriteLine();
        output.WriteLine($"benchmark: dim {o.Dim}, {o.Layers} layers, ffn {o.Ffn}, vocab {o.Vocab}, prompt {o.Prompt}, {o.Steps} decode steps, {device.Info.Name}");
        output.WriteLine("| type   | batch | prefill tok/s | step ms |   tok/s | weight GB/s | of copy |");
        output.WriteLine("|--------|------:|--------------:|--------:|--------:|------------:|--------:|");
        foreach (var r in rows)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Type,-6} | {r.Batch,5} | {r.PrefillTokensPerSecond,13:0} | {r.DecodeStepMs,7:0.00} | {r.DecodeTokensPerSecond,7:0.0} | {r.WeightGBps,11:0.0} | {r.OfCopy,6:P0} |"));
        return rows;
    }

    /// <summary>Device-to-device copy of <paramref name="bytes"/>, best of 5, counted as read + write bytes.</summary>
    public static double MeasureCopyGBps(CudaDevice device, long bytes)
    {
        var ctx = device.Context;
        ctx.MakeCurrent();
        using var stream = CudaStream.Create(ctx);
        using var a = DeviceBuffer.Allocate(ctx, bytes);
        using var b = DeviceBuffer.Allocate(ctx, bytes);
        using var start = CudaEvent.Create(ctx);
        using var end = CudaEvent.Create(ctx);
        a.Fill(1, stream);
        b.CopyFrom(a, 0, 0, bytes, stream); // warm-up
        double best = double.MaxValue;
        for (int i = 0; i < 5; i++)
        {
            start.Record(stream);
            b.CopyFrom(a, 0, 0, bytes, stream);
            end.Record(stream);
            end.Synchronize();
            best = Math.Min(best, CudaEvent.ElapsedMilliseconds(start, end) / 1e3);
        }
        return 2.0 * bytes / best / 1e9;
    }

    private static IEnumerable<BenchmarkRow> RunModel(CudaDevice device, LlamaModel model, string type, BenchmarkOptions o, double copy, TextWriter output)
    {
        int maxBatch = o.Batches.Max(), blockSize = 16, blocksPerSeq = (o.Prompt + o.Steps + 1 + blockSize - 1) / blockSize;
        var kv = new KvCacheSpec(blockSize, blocksPerSeq * maxBatch, model.Config.HeadCountKv, model.Config.HeadDim, KvCacheType.F16);
        var sw = Stopwatch.StartNew();
        using var stage = device.LoadCudaStage(model, new LayerRange(0, model.Config.BlockCount), kv, Math.Max(o.Prompt * maxBatch, maxBatch));
        output.WriteLine($"{type}: stage loaded in {sw.Elapsed.TotalSeconds:0.0} s: {stage.MemoryPlan.Describe()}; {device.CublasStatus}");
        long weightBytes = stage.MemoryPlan.WeightBytes - model.TokenEmbedding.ByteSize; // a step reads every matrix but the embedding table
        int vocab = model.Config.VocabSize;
        var rng = new Random(1);
        var rows = new List<BenchmarkRow>();
        foreach (int b in o.Batches)
        {
            var batch = new StepBatch();
            batch.EnsureCapacity(b * o.Prompt, b, blocksPerSeq);
            for (int s = 0; s < b; s++)
                for (int j = 0; j < blocksPerSeq; j++) batch.BlockTables[s * blocksPerSeq + j] = s * blocksPerSeq + j;
            var logits = new float[b * vocab];
            Fill(batch, b, o.Prompt, 0, blocksPerSeq, blockSize, vocab, rng);
            stage.Forward(batch, default, logits); // warm-up: compiles nothing, but first cuBLAS calls pick algorithms
            Fill(batch, b, o.Prompt, 0, blocksPerSeq, blockSize, vocab, rng);
            sw.Restart();
            stage.Forward(batch, default, logits);
            double prefill = sw.Elapsed.TotalSeconds;
            var times = new List<double>();
            for (int step = 0; step < o.Steps; step++)
            {
                Fill(batch, b, 1, o.Prompt + step, blocksPerSeq, blockSize, vocab, rng);
                sw.Restart();
                stage.Forward(batch, default, logits);
                times.Add(sw.Elapsed.TotalSeconds);
            }
            times.Sort();
            double median = times[times.Count / 2];
            rows.Add(new BenchmarkRow(type, b, b * o.Prompt / prefill, median * 1e3, b / median, weightBytes / median / 1e9, copy));
        }
        return rows;
    }

    /// <summary>Every sequence computes <paramref name="tokensPerSeq"/> tokens after <paramref name="contextBefore"/>; logits of each last token.</summary>
    private static void Fill(StepBatch batch, int seqs, int tokensPerSeq, int contextBefore, int blocksPerSeq, int blockSize, int vocab, Random rng)
    {
        int t = 0;
        for (int s = 0; s < seqs; s++)
        {
            batch.QueryStart[s] = t;
            batch.ContextLength[s] = contextBefore + tokensPerSeq;
            for (int i = 0; i < tokensPerSeq; i++, t++)
            {
                int pos = contextBefore + i;
                batch.Tokens[t] = rng.Next(vocab);
                batch.Positions[t] = pos;
                batch.Slots[t] = batch.BlockTables[s * blocksPerSeq + pos / blockSize] * blockSize + pos % blockSize;
            }
            batch.LogitTokens[s] = t - 1;
        }
        batch.QueryStart[seqs] = t;
        batch.TokenCount = t;
        batch.SequenceCount = seqs;
        batch.LogitCount = seqs;
    }
}
