using System.Globalization;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using LLama.Native;

/// <summary>
/// `decode --model F [--threads 2] [--tokens 200] [--rounds 1]`: single-stream greedy decode of our
/// bare forward pass (no runtime) and llama.cpp's on one file, alternating, one JSON line per round
/// (tokens/s after a 16-token prompt). decode-vs-llamacpp.sh runs it between fresh `actors bench`
/// processes so the runtime, the bare forward and llama.cpp see the same machine.
/// </summary>
internal static class DecodeSideBySide
{
    public static int Run(string[] args)
    {
        string? path = null;
        int threads = 2, tokens = 200, rounds = 1;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--model": path = args[i + 1]; break;
                case "--threads": threads = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--tokens": tokens = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                case "--rounds": rounds = int.Parse(args[i + 1], CultureInfo.InvariantCulture); break;
                default: throw new ArgumentException($"unknown option {args[i]} (--model, --threads, --tokens, --rounds)");
            }
        }
        if (path is null || !File.Exists(path)) throw new ArgumentException($"--model: file not found: {path}");
        NativeLibraryConfig.All.WithCuda(false).WithVulkan(false).WithLogCallback((_, _) => { });
        NativeApi.llama_empty_call();
        using var model = LlamaModel.Open(path);
        var rng = new DeterministicRandom(11);
        int[] prompt = Enumerable.Range(0, 16).Select(_ => 3 + rng.NextInt(Math.Min(31000, model.Config.VocabSize - 3))).ToArray();
        var o = new Options(threads, [], tokens, prompt.Length, rounds);
        using var ours = new OursEngine(model, prompt, o);
        using var cpp = new LlamaCppEngine(path, prompt, o);
        for (int r = 0; r < rounds; r++)
        {
            double a = ours.Decode(), b = cpp.Decode();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{{\"bare_tokens_per_second\":{a:F2},\"llamacpp_tokens_per_second\":{b:F2}}}"));
        }
        return 0;
    }
}
