using System.Diagnostics;
using System.Globalization;
using Actors.Inference.Synthetic;
using LLama;
using LLama.Common;
using LLama.Native;

/// <summary>
/// llama.cpp's batched decode through LLamaSharp's llama_decode: N sequences of a fixed random
/// prompt each, all prompts in one batch (split into micro-batches by llama.cpp), then one step per
/// token with N tokens, greedy; the figure is generated tokens over the wall time of prefill plus
/// decode, the same definition as our <c>bench --mode continuous --fixed-lengths</c>. With
/// <c>--new 1</c> it also reports prompt tokens per second of the prefill alone.
/// </summary>
/// <remarks>
///   dotnet run -c Release --project benchmarks/Actors.LlamaComparison -- batched --model F.gguf --streams 1,8,32 [--prompt 64] [--new 128] [--threads 2] [--repeats 3]
///   dotnet run -c Release --project benchmarks/Actors.LlamaComparison -- quantize --from F16.gguf --to Q8_0.gguf --type Q8_0
/// </remarks>
internal static class LlamaCppBatched
{
    public static int Run(string[] args)
    {
        string? model = null;
        int[] streams = [1, 8, 32];
        int prompt = 64, generate = 128, threads = 2, repeats = 3;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--model": model = args[i + 1]; break;
                case "--streams": streams = args[i + 1].Split(',').Select(int.Parse).ToArray(); break;
                case "--prompt": prompt = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--new": generate = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--repeats": repeats = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]} (--model, --streams, --prompt, --new, --threads, --repeats)");
            }
        }
        if (model is null || !File.Exists(model)) throw new ArgumentException($"--model must name an existing GGUF file, got '{model}'");
        NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
        NativeApi.llama_empty_call();

        foreach (int n in streams)
        {
            var p = new ModelParams(model)
            {
                ContextSize = (uint)(n * (prompt + generate) + 64),
                BatchSize = (uint)Math.Max(n * prompt, n),
                UBatchSize = (uint)Math.Min(512, Math.Max(n * prompt, n)),
                SeqMax = (uint)n,
                KVUnified = true,
                Threads = threads,
                BatchThreads = threads,
                GpuLayerCount = 0,
                FlashAttention = false,
            };
            using var weights = LLamaWeights.LoadFromFile(p);
            using var ctx = weights.CreateContext(p);
            int vocab = weights.Vocab.Count;
            var rng = new DeterministicRandom(7);
            var prompts = new int[n][];
            for (int s = 0; s < n; s++) prompts[s] = Enumerable.Range(0, prompt).Select(_ => 3 + rng.NextInt(vocab - 3)).ToArray();

            Once(ctx, prompts, Math.Min(generate, 4)); // warm up: page-in and native threads
            double best = 0, bestPrefill = 0;
            for (int r = 0; r < repeats; r++)
            {
                var (total, prefill) = Once(ctx, prompts, generate);
                best = Math.Max(best, (double)n * generate / total);
                bestPrefill = Math.Max(bestPrefill, (double)n * prompt / prefill);
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"llama.cpp {Path.GetFileName(model)} streams {n,3} prompt {prompt} new {generate}: {best,8:F1} generated tok/s (prefill+decode wall), prefill alone {bestPrefill,8:F1} prompt tok/s"));
        }
        return 0;
    }

    /// <summary>One whole workload from an empty cache; returns (prefill + decode seconds, prefill seconds).</summary>
    private static (double Total, double Prefill) Once(LLamaContext ctx, int[][] prompts, int generate)
    {
        int n = prompts.Length, prompt = prompts[0].Length;
        ctx.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        var logitIndex = new int[n];
        var next = new int[n];
        var sw = Stopwatch.StartNew();
        // All prompts in one llama_decode (the batch size is n·prompt; llama.cpp splits it into micro-batches).
        for (int s = 0; s < n; s++)
            for (int i = 0; i < prompt; i++)
                logitIndex[s] = batch.Add(prompts[s][i], i, (LLamaSeqId)s, i == prompt - 1);
        Decode(ctx, batch);
        for (int s = 0; s < n; s++) next[s] = ArgMax(ctx.NativeHandle.GetLogitsIth(logitIndex[s]));
        double prefill = sw.Elapsed.TotalSeconds;
        // `generate` tokens come from `generate` logits: the prompt's, then generate − 1 steps (the last token is not fed back, as in our bench).
        for (int step = 1; step < generate; step++)
        {
            batch.Clear();
            for (int s = 0; s < n; s++) logitIndex[s] = batch.Add(next[s], prompt + step - 1, (LLamaSeqId)s, true);
            Decode(ctx, batch);
            for (int s = 0; s < n; s++) next[s] = ArgMax(ctx.NativeHandle.GetLogitsIth(logitIndex[s]));
        }
        return (sw.Elapsed.TotalSeconds, prefill);
    }

    private static void Decode(LLamaContext ctx, LLamaBatch batch)
    {
        if (batch.TokenCount == 0) return;
        var r = ctx.NativeHandle.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {r}");
        batch.Clear();
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    /// <summary>llama.cpp's own quantizer from an F16 file, as downloaded quantized files are made.</summary>
    public static int Quantize(string[] args)
    {
        string? from = null, to = null, type = null;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--from": from = args[i + 1]; break;
                case "--to": to = args[i + 1]; break;
                case "--type": type = args[i + 1]; break;
                default: throw new ArgumentException($"unknown option {args[i]} (--from, --to, --type)");
            }
        }
        if (from is null || to is null || type is null) throw new ArgumentException("quantize needs --from F16.gguf --to OUT.gguf --type Q8_0|Q4_K_M|…");
        NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
        NativeApi.llama_empty_call();
        if (!Enum.TryParse<LLamaFtype>("MOSTLY_" + type.ToUpperInvariant(), out var ftype))
            throw new ArgumentException($"--type {type} is not a llama-quantize file type");
        if (!LLamaQuantizer.Quantize(from, to, ftype, Environment.ProcessorCount, allowRequantize: false))
            throw new InvalidOperationException($"llama.cpp could not quantize {from} to {type}");
        return 0;
    }
}
