using System.Diagnostics;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Generation;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Benchmarks;

/// <summary>
/// `repack-ab MODEL [ROUNDS] [TYPES]`: two copies of one model in one process, A repacking only TYPES (default
/// Q8_0,Q4_K) and B the default set, forward passes alternated A, B, A, B (bare SequenceRunner, 2 threads):
/// per round a 512-token prefill and 32 single-token decode steps. Reports best and median of each (on a
/// shared machine the best is the steadier estimate), and whether A's and B's logits agree bit for bit.
/// </summary>
internal static class RepackAbBenchmark
{
    public static int Run(string[] args)
    {
        string path = args.Length > 0 ? args[0] : throw new ArgumentException("repack-ab MODEL [ROUNDS] [TYPES]");
        int rounds = args.Length > 1 ? int.Parse(args[1]) : 9;
        var typesA = (args.Length > 2 ? args[2] : "Q8_0,Q4_K").Split(',').Select(t => Enum.Parse<GgmlType>(t, true)).ToHashSet();
        var typesB = WeightRepacking.DefaultTypes;
        var a = Open(path, typesA);
        var b = Open(path, typesB);
        var prompt = Enumerable.Range(0, 512).Select(i => 3 + (i * 7919) % (a.Model.Config.VocabSize - 3)).ToArray();
        var prefill = (A: new List<double>(), B: new List<double>());
        var decode = (A: new List<double>(), B: new List<double>());
        bool identical = true;
        for (int r = 0; r < rounds; r++)
        {
            var la = Pass(a.Runner, prompt, prefill.A, decode.A);
            var lb = Pass(b.Runner, prompt, prefill.B, decode.B);
            identical &= la.AsSpan().SequenceEqual(lb);
        }
        string A = string.Join(",", typesA.Order()), B = string.Join(",", typesB.Order());
        Console.WriteLine($"# {Path.GetFileName(path)}: A repacks {A}, B repacks {B}; {rounds} alternated rounds, 2 threads, load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        Console.WriteLine($"prefill 512 tokens, ms (best / median): A {Best(prefill.A):F1} / {Median(prefill.A):F1}, B {Best(prefill.B):F1} / {Median(prefill.B):F1}; A / B {Best(prefill.A) / Best(prefill.B):F3} / {Median(prefill.A) / Median(prefill.B):F3}");
        Console.WriteLine($"decode one token, ms (best / median): A {Best(decode.A):F3} / {Median(decode.A):F3}, B {Best(decode.B):F3} / {Median(decode.B):F3}; A / B {Best(decode.A) / Best(decode.B):F3} / {Median(decode.A) / Median(decode.B):F3}");
        Console.WriteLine($"logits of A and B bit-identical at every step: {identical}");
        return identical ? 0 : 1;
    }

    private static (LlamaModel Model, SequenceRunner Runner) Open(string path, IReadOnlySet<GgmlType> types)
    {
        var saved = WeightRepacking.Types;
        WeightRepacking.Types = types;
        try
        {
            var model = LlamaModel.Open(path);
            var runner = new SequenceRunner(new CpuDevice("cpu:0", 2), model, contextLength: 600, maxBatchTokens: 512);
            runner.Feed([3], allLogits: false); // the stage loads (and repacks) here, with Types as set
            return (model, runner);
        }
        finally
        {
            WeightRepacking.Types = saved;
        }
    }

    /// <summary>A 512-token prefill, then 32 greedy decode steps after a 16-token prompt; returns every step's logits, concatenated.</summary>
    private static float[] Pass(SequenceRunner runner, int[] prompt, List<double> prefill, List<double> decode)
    {
        var all = new List<float>();
        runner.Reset();
        var clock = Stopwatch.StartNew();
        all.AddRange(runner.Feed(prompt, allLogits: false));
        prefill.Add(clock.Elapsed.TotalMilliseconds);
        runner.Reset();
        var logits = runner.Feed(prompt.AsSpan(0, 16), allLogits: false);
        for (int i = 0; i < 32; i++)
        {
            int next = ArgMax(logits);
            clock.Restart();
            logits = runner.Feed([next], allLogits: false);
            decode.Add(clock.Elapsed.TotalMilliseconds);
            all.AddRange(logits);
        }
        return all.ToArray();
    }

    private static double Best(List<double> v) => v.Min();

    private static double Median(List<double> v)
    {
        var s = v.Order().ToArray();
        return s[s.Length / 2];
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
