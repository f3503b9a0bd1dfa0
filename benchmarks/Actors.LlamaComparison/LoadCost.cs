using System.Diagnostics;
using System.Globalization;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Generation;
using Actors.Inference.Model;

/// <summary>
/// What repacking costs at load: open + stage load + the first one-token forward pass (which pages
/// every weight in), with and without repacking, the repack's own seconds, and the resident set after.
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
        using var runner = new SequenceRunner(device, model, contextLength: 64, maxBatchTokens: 16);
        double loaded = sw.Elapsed.TotalSeconds;
        runner.Feed([3], allLogits: false);
        double first = sw.Elapsed.TotalSeconds;
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{Path.GetFileName(path)} repack {(repack ? "on " : "off")}: open+load {loaded:F3} s (repack {WeightRepacking.LastRepackSeconds:F3} s), +first token {first:F3} s, resident {self.WorkingSet64 / 1e6:F0} MB"));
        return 0;
    }
}
