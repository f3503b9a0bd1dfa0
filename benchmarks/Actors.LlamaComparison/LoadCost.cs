using System.Diagnostics;
using System.Globalization;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using LLama;
using LLama.Common;
using LLama.Native;

/// <summary>
/// What repacking costs at load: open + stage load + the first one-token forward pass (which pages
/// every weight in), with and without repacking, the repack's own seconds, the resident set after, then
/// single-stream decode and 512-token prefill tokens/s.
/// </summary>
/// <remarks>dotnet run -c Release --project benchmarks/Actors.LlamaComparison -- load --model F.gguf [--repack on|off]</remarks>
internal static class LoadCost
{
    public static int Run(string[] args)
    {
        string? path = null;
        bool repack = true;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--model": path = args[i + 1]; break;
                case "--repack": repack = args[i + 1] == "on"; break;
                default: throw new ArgumentException($"unknown option {args[i]} (--model, --repack on|off)");
            }
        }
        if (path is null || !File.Exists(path)) throw new ArgumentException($"--model must name an existing GGUF file, got '{path}'");
        WeightRepacking.Enabled = repack;
        var sw = Stopwatch.StartNew();
        using var model = LlamaModel.Open(path);
        using var device = new CpuDevice("cpu:0", 2);
        using var runner = new SequenceRunner(device, model, contextLength: 600, maxBatchTokens: 512);
        double loaded = sw.Elapsed.TotalSeconds;
        runner.Feed([3], allLogits: false);
        double first = sw.Elapsed.TotalSeconds;
        // Then single-stream decode (64 tokens after a 16-token prompt) and a 512-token prefill, best of 3.
        double decode = 0, prefill = 0;
        var prompt = Enumerable.Range(0, 512).Select(i => 3 + (i * 7919) % (model.Config.VocabSize - 3)).ToArray();
        for (int r = 0; r < 3; r++)
        {
            runner.Reset();
            var logits = runner.Feed(prompt.AsSpan(0, 16), allLogits: false);
            var t0 = Stopwatch.StartNew();
            for (int i = 0; i < 64; i++) logits = runner.Feed([ArgMax(logits)], allLogits: false);
            decode = Math.Max(decode, 64 / t0.Elapsed.TotalSeconds);
            runner.Reset();
            t0.Restart();
            runner.Feed(prompt, allLogits: false);
            prefill = Math.Max(prefill, 512 / t0.Elapsed.TotalSeconds);
        }
        // llama.cpp's load of the same file (model + context, one token decoded), for scale.
        double cppLoad;
        {
            NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
            NativeApi.llama_empty_call();
            var clock = Stopwatch.StartNew();
            var p = new ModelParams(path) { ContextSize = 64, BatchSize = 16, UBatchSize = 16, Threads = 2, BatchThreads = 2, GpuLayerCount = 0 };
            using var weights = LLamaWeights.LoadFromFile(p);
            using var ctx = weights.CreateContext(p);
            var batch = new LLamaBatch();
            batch.Add(3, 0, LLamaSeqId.Zero, true);
            if (ctx.NativeHandle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama_decode failed");
            cppLoad = clock.Elapsed.TotalSeconds;
        }
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(path)} repack {(repack ? "on " : "off")}: open+load {loaded:F3} s (repack {WeightRepacking.LastRepackSeconds:F3} s), +first token {first:F3} s, resident {self.WorkingSet64 / 1e6:F0} MB; decode {decode:F1} tok/s, prefill 512 {prefill:F1} tok/s; llama.cpp load+first token {cppLoad:F3} s"));
        return 0;
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
