using System.Diagnostics;
using System.Globalization;
using Actors.Benchmarks;
using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using LLama;
using LLama.Common;
using LLama.Native;

// Single-stream decode and prefill tokens/s of our CPU backend next to llama.cpp's (LLamaSharp's CPU
// build), same model file, same thread count, same run; plus decode weight bytes per second as a
// fraction of this machine's read bandwidth measured in the same run.
//
//   dotnet run -c Release --project benchmarks/Actors.LlamaComparison -- [--threads 2] [--types F16,Q8_0,Q4_K] [--decode 64] [--prefill 512]
// `batched` and `quantize` (LlamaCppBatched.cs): llama.cpp's batched decode on a given file, next to our `bench`.
// `decode` (DecodeSideBySide.cs): single-stream decode of one file, bare forward and llama.cpp, for decode-vs-llamacpp.sh.

if (args.Length > 0 && args[0] == "batched") return LlamaCppBatched.Run(args[1..]);
if (args.Length > 0 && args[0] == "load") return LoadCost.Run(args[1..]);
if (args.Length > 0 && args[0] == "decode") return DecodeSideBySide.Run(args[1..]);
if (args.Length > 0 && args[0] == "quantize") return LlamaCppBatched.Quantize(args[1..]);
var opts = Options.Parse(args);
NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
NativeApi.llama_empty_call();

var bandwidth = new MemoryBandwidth(1 << 30);
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {opts.Threads} threads used; {opts.Repeats} interleaved rounds, best of each");
Console.WriteLine();
Console.WriteLine($"{"type",-6} {"weights",9} | {"decode ours",12} {"llama.cpp",10} {"ratio",6} | {"prefill ours",13} {"llama.cpp",10} {"ratio",6} | {"decode GB/s",11} {"read GB/s",9} {"of read",8}");
Console.WriteLine("(t/s: best round of each engine; read GB/s: median of a 1 GiB read per round; of read: median over rounds of our decode GB/s over the read just before it)");

foreach (string type in opts.Types)
{
    // ~650M parameters: well beyond the caches (≥ 300 MB of weights in every type measured).
    string path = ModelFile(type, opts.Threads);
    using var model = LlamaModel.Open(path);
    long weightBytes = model.Layers.Sum(l => l.Matrices.Sum(m => m.ByteSize)) + model.Output.ByteSize;
    var rng = new DeterministicRandom(11);
    int[] prompt = Enumerable.Range(0, opts.Prefill).Select(_ => 3 + rng.NextInt(31000)).ToArray();

    // Both engines stay loaded (they map the same file) and take turns, round after round, with a
    // read-bandwidth measurement in every round: this machine's memory bandwidth drifts with other
    // tenants' load, so measuring one engine after the other would compare different machines.
    using var ours = new OursEngine(model, prompt, opts);
    using var cpp = new LlamaCppEngine(path, prompt, opts);
    double oursDecode = 0, cppDecode = 0, oursPrefill = 0, cppPrefill = 0;
    var ofRead = new double[opts.Repeats];
    var reads = new double[opts.Repeats];
    for (int r = 0; r < opts.Repeats; r++)
    {
        // The read and our decode back to back, each over about a gigabyte, so both see the same machine.
        reads[r] = bandwidth.Measure(opts.Threads, 1, 1L << 30);
        double d = ours.Decode();
        ofRead[r] = d * weightBytes / 1e9 / reads[r];
        oursDecode = Math.Max(oursDecode, d);
        cppDecode = Math.Max(cppDecode, cpp.Decode());
        oursPrefill = Math.Max(oursPrefill, ours.Prefill());
        cppPrefill = Math.Max(cppPrefill, cpp.Prefill());
    }
    double gbs = oursDecode * weightBytes / 1e9;
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"{type,-6} {weightBytes / 1e6,7:F0}MB | {oursDecode,9:F2} t/s {cppDecode,6:F2} t/s {oursDecode / cppDecode,5:F2}x | {oursPrefill,10:F1} t/s {cppPrefill,6:F1} t/s {oursPrefill / cppPrefill,5:F2}x | {gbs,8:F1} GB/s {Bench.Median(reads),6:F1} GB/s {Bench.Median(ofRead),7:P0}"));
}
return 0;

/// <summary>Our CPU backend: one sequence through <see cref="SequenceRunner"/>; each call returns tokens/s of one timed run.</summary>
sealed class OursEngine : IDisposable
{
    private readonly CpuDevice _device;
    private readonly SequenceRunner _runner;
    private readonly int[] _prompt;
    private readonly int _decode;

    public OursEngine(LlamaModel model, int[] prompt, Options o)
    {
        _prompt = prompt;
        _decode = o.Decode;
        _device = new CpuDevice("cpu:0", o.Threads);
        _runner = new SequenceRunner(_device, model, contextLength: prompt.Length + o.Decode + 16, maxBatchTokens: prompt.Length);
        _runner.Feed(prompt.AsSpan(0, 8), allLogits: false); // warm up: JIT and page-in
        for (int i = 0; i < 4; i++) _runner.Feed([prompt[i]], allLogits: false);
        Prefill();
        Decode();
    }

    public double Prefill()
    {
        _runner.Reset();
        var sw = Stopwatch.StartNew();
        _runner.Feed(_prompt, allLogits: false);
        return _prompt.Length / sw.Elapsed.TotalSeconds;
    }

    public double Decode()
    {
        _runner.Reset();
        var logits = _runner.Feed(_prompt.AsSpan(0, 16), allLogits: false);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < _decode; i++) logits = _runner.Feed([Bench.ArgMax(logits)], allLogits: false);
        return _decode / sw.Elapsed.TotalSeconds;
    }

    public void Dispose()
    {
        _runner.Dispose();
        _device.Dispose();
    }
}

/// <summary>llama.cpp through LLamaSharp's low-level API (llama_decode), flash attention off; each call returns tokens/s of one timed run.</summary>
sealed class LlamaCppEngine : IDisposable
{
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _ctx;
    private readonly LLamaBatch _batch = new();
    private readonly int[] _prompt;
    private readonly int _decode;

    public LlamaCppEngine(string path, int[] prompt, Options o)
    {
        _prompt = prompt;
        _decode = o.Decode;
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
        _weights = LLamaWeights.LoadFromFile(p);
        _ctx = _weights.CreateContext(p);
        _ctx.NativeHandle.MemoryClear(true);
        Run(prompt.AsSpan(0, 8), 0); // warm up
        Prefill();
        Decode();
    }

    private void Run(ReadOnlySpan<int> tokens, int start)
    {
        _batch.Clear();
        for (int i = 0; i < tokens.Length; i++) _batch.Add(tokens[i], start + i, LLamaSeqId.Zero, i == tokens.Length - 1);
        if (_ctx.NativeHandle.Decode(_batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
    }

    public double Prefill()
    {
        _ctx.NativeHandle.MemoryClear(true);
        var sw = Stopwatch.StartNew();
        Run(_prompt, 0);
        return _prompt.Length / sw.Elapsed.TotalSeconds;
    }

    public double Decode()
    {
        _ctx.NativeHandle.MemoryClear(true);
        Run(_prompt.AsSpan(0, 16), 0);
        int pos = 16;
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < _decode; i++)
        {
            int next = Bench.ArgMax(_ctx.NativeHandle.GetLogitsIth(-1));
            Run([next], pos++);
        }
        return _decode / sw.Elapsed.TotalSeconds;
    }

    public void Dispose()
    {
        _ctx.Dispose();
        _weights.Dispose();
    }
}

static class Bench
{
    public static double Median(double[] v)
    {
        var sorted = v.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }

    public static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}

internal sealed record Options(int Threads, string[] Types, int Decode, int Prefill, int Repeats)
{
    public static Options Parse(string[] args)
    {
        int threads = Environment.ProcessorCount, decode = 64, prefill = 512, repeats = 5;
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

/// <summary>Model files: generated directly for the types the generator encodes, else llama.cpp's quantizer applied to the F16 file.</summary>
internal static partial class Program
{
    // ~650M parameters: well beyond the caches (≥ 300 MB of weights in every type measured).
    private static SyntheticModelSpec Spec(string type) =>
        new() { Dim = 2048, Layers = 10, Heads = 16, KvHeads = 16, Ffn = 5632, Vocab = 32000, Context = 2048, WeightType = type, Seed = 3 };

    /// <summary>
    /// <paramref name="type"/> is a GGUF type the generator writes (F16, Q8_0, Q4_K, …) or one of
    /// llama-quantize's file mixes (Q5_K_M, Q3_K_M, IQ4_XS, Q4_1, …), made from the F16 file by
    /// llama.cpp's own quantizer, as downloaded files are.
    /// </summary>
    internal static string ModelFile(string type, int threads)
    {
        if (Enum.TryParse<Actors.Inference.Gguf.GgmlType>(type, out var t) && Actors.Inference.Quantization.ReferenceQuantizer.CanQuantize(t))
            return SyntheticModelGenerator.EnsureCached(Spec(type));
        string f16 = SyntheticModelGenerator.EnsureCached(Spec("F16"));
        string path = Path.ChangeExtension(f16, null) + $"-llamacpp-{type.ToLowerInvariant()}.gguf";
        if (File.Exists(path)) return path;
        string tmp = path + ".tmp";
        if (!LLamaQuantizer.Quantize(f16, tmp, Enum.Parse<LLamaFtype>("MOSTLY_" + type.ToUpperInvariant()), threads, allowRequantize: false))
            throw new InvalidOperationException($"llama.cpp could not quantize {f16} to {type}");
        File.Move(tmp, path, overwrite: true);
        return path;
    }
}
