using System.Diagnostics;
using System.Globalization;
using Actors.Benchmarks;
using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Testing;
using LLama;
using LLama.Common;
using LLama.Native;

// Single-stream decode and prefill tokens/s of our CPU backend next to llama.cpp's (LLamaSharp's CPU
// build), same model file, same thread count, same run; plus decode weight bytes per second as a
// fraction of this machine's read bandwidth measured in the same run.
//
//   dotnet run -c Release --project benchmarks/Actors.LlamaComparison -- [--threads 2] [--types F16,Q8_0,Q4_K] [--decode 64] [--prefill 512]

var opts = Options.Parse(args);
NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
NativeApi.llama_empty_call();

var bandwidth = new MemoryBandwidth(1 << 30);
double readGbs = bandwidth.Measure(opts.Threads, 3, 64L << 20);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {opts.Threads} threads used; streaming read {readGbs:F1} GB/s ({opts.Threads} threads)");
Console.WriteLine();
Console.WriteLine($"{"type",-6} {"weights",9} | {"decode ours",12} {"llama.cpp",10} {"ratio",6} | {"prefill ours",13} {"llama.cpp",10} {"ratio",6} | {"decode GB/s",11} {"of read",8}");

foreach (string type in opts.Types)
{
    // ~650M parameters: well beyond the caches (≥ 300 MB of weights in every type measured).
    var spec = new TestModelSpec { Dim = 2048, Layers = 10, Heads = 16, KvHeads = 16, Ffn = 5632, Vocab = 32000, Context = 2048, WeightType = type, Seed = 3 };
    string path = TestModelGenerator.EnsureCached(spec);
    using var model = LlamaModel.Open(path);
    long weightBytes = model.Layers.Sum(l => l.Matrices.Sum(m => m.ByteSize)) + model.Output.ByteSize;
    var rng = new DeterministicRandom(11);
    int[] prompt = Enumerable.Range(0, opts.Prefill).Select(_ => 3 + rng.NextInt(31000)).ToArray();

    var (oursDecode, oursPrefill) = Ours(model, prompt, opts);
    var (cppDecode, cppPrefill) = LlamaCpp(path, prompt, opts);
    double gbs = oursDecode * weightBytes / 1e9;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{type,-6} {weightBytes / 1e6,7:F0}MB | {oursDecode,9:F2} t/s {cppDecode,6:F2} t/s {oursDecode / cppDecode,5:F2}x | {oursPrefill,10:F1} t/s {cppPrefill,6:F1} t/s {oursPrefill / cppPrefill,5:F2}x | {gbs,8:F1} GB/s {gbs / readGbs,7:P0}"));
}
return 0;

static (double Decode, double Prefill) Ours(LlamaModel model, int[] prompt, Options o)
{
    using var device = new CpuDevice("cpu:0", o.Threads);
    using var runner = new SequenceRunner(device, model, contextLength: prompt.Length + o.Decode + 16, maxBatchTokens: prompt.Length);
    runner.Feed(prompt.AsSpan(0, 8), allLogits: false); // warm up: JIT and page-in
    for (int i = 0; i < 4; i++) runner.Feed([prompt[i]], allLogits: false);
    double prefill = double.MaxValue;
    for (int r = 0; r < o.Repeats; r++)
    {
        runner.Reset();
        var sw = Stopwatch.StartNew();
        runner.Feed(prompt, allLogits: false);
        prefill = Math.Min(prefill, sw.Elapsed.TotalSeconds);
    }
    double decode = double.MaxValue;
    for (int r = 0; r < o.Repeats; r++)
    {
        runner.Reset();
        var logits = runner.Feed(prompt.AsSpan(0, 16), allLogits: false);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < o.Decode; i++) logits = runner.Feed([ArgMax(logits)], allLogits: false);
        decode = Math.Min(decode, sw.Elapsed.TotalSeconds);
    }
    return (o.Decode / decode, prompt.Length / prefill);
}

static (double Decode, double Prefill) LlamaCpp(string path, int[] prompt, Options o)
{
    var p = new ModelParams(path)
    {
        ContextSize = (uint)(prompt.Length + o.Decode + 16),
        BatchSize = (uint)prompt.Length,
        UBatchSize = (uint)prompt.Length,
        Threads = o.Threads,
        BatchThreads = o.Threads,
        GpuLayerCount = 0,
        FlashAttention = false,
    };
    using var weights = LLamaWeights.LoadFromFile(p);
    using var ctx = weights.CreateContext(p);
    var h = ctx.NativeHandle;
    var batch = new LLamaBatch();
    void Decode(ReadOnlySpan<int> tokens, int start)
    {
        batch.Clear();
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], start + i, LLamaSeqId.Zero, i == tokens.Length - 1);
        if (h.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
    }
    h.MemoryClear(true);
    Decode(prompt.AsSpan(0, 8), 0); // warm up
    double prefill = double.MaxValue;
    for (int r = 0; r < o.Repeats; r++)
    {
        h.MemoryClear(true);
        var sw = Stopwatch.StartNew();
        Decode(prompt, 0);
        prefill = Math.Min(prefill, sw.Elapsed.TotalSeconds);
    }
    double decode = double.MaxValue;
    for (int r = 0; r < o.Repeats; r++)
    {
        h.MemoryClear(true);
        Decode(prompt.AsSpan(0, 16), 0);
        int pos = 16;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < o.Decode; i++)
        {
            int next = ArgMax(h.GetLogitsIth(-1));
            Decode([next], pos++);
        }
        decode = Math.Min(decode, sw.Elapsed.TotalSeconds);
    }
    return (o.Decode / decode, prompt.Length / prefill);
}

static int ArgMax(ReadOnlySpan<float> x)
{
    int best = 0;
    for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
    return best;
}

internal sealed record Options(int Threads, string[] Types, int Decode, int Prefill, int Repeats)
{
    public static Options Parse(string[] args)
    {
        int threads = Environment.ProcessorCount, decode = 64, prefill = 512, repeats = 3;
        string[] types = ["F16", "Q8_0", "Q4_K"];
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--threads": threads = int.Parse(args[i + 1]); break;
                case "--types": types = args[i + 1].Split(','); break;
                case "--decode": decode = int.Parse(args[i + 1]); break;
                case "--prefill": prefill = int.Parse(args[i + 1]); break;
                case "--repeats": repeats = int.Parse(args[i + 1]); break;
                default: throw new ArgumentException($"unknown option {args[i]} (--threads, --types, --decode, --prefill, --repeats)");
            }
        }
        return new Options(threads, types, decode, prefill, repeats);
    }
}
