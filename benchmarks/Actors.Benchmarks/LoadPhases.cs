using System.Diagnostics;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Benchmarks;

/// <summary>
/// `load-phases FILE.gguf [touch]`: what repacking a file's Q4_K weights costs, wall and CPU time (the CPU time
/// holds up better on a shared machine). `touch` reads every source page first, so the repack no longer pays the
/// page-in that the first forward pass pays without repacking. Then the same again on a second open of the
/// file, compiled code warm.
/// </summary>
internal static class LoadPhases
{
    public static int Run(string[] args)
    {
        var sw = Stopwatch.StartNew();
        using var model = LlamaModel.Open(args[0]);
        double open = sw.Elapsed.TotalSeconds;
        var all = model.Layers.SelectMany(l => l.Matrices).Append(model.Output).Where(w => w.Type == GgmlType.Q4_K).ToList();
        long bytes = all.Sum(w => (long)w.ByteSize);
        if (args.Length > 1 && args[1] == "touch")
        {
            sw.Restart();
            int s = 0;
            foreach (var w in all) { var sp = w.RowSpan(0, w.Rows); for (int i = 0; i < sp.Length; i += 4096) s += sp[i]; }
            Console.WriteLine($"touching the source pages: {sw.Elapsed.TotalMilliseconds:F1} ms ({s & 1})");
        }
        using var pool = new CpuWorkerPool(2);
        using var me = Process.GetCurrentProcess();
        Console.WriteLine($"open {open * 1000:F1} ms; Q4_K {bytes / 1e6:F1} MB in {all.Count} matrices");
        Measure("repack", model);
        using var again = LlamaModel.Open(args[0]);
        Measure("again (code warm; the first repack released the source pages)", again);
        return 0;

        void Measure(string what, LlamaModel m)
        {
            me.Refresh();
            var cpu = me.TotalProcessorTime;
            var user = me.UserProcessorTime;
            int gc2 = GC.CollectionCount(2);
            double t = WeightRepacking.RepackStage(m, 0, m.Layers.Count, true, pool);
            me.Refresh();
            Console.WriteLine($"  {what}: {t * 1000:F1} ms wall, cpu {(me.TotalProcessorTime - cpu).TotalMilliseconds:F1} ms " +
                              $"(user {(me.UserProcessorTime - user).TotalMilliseconds:F1} ms), gen2 GCs {GC.CollectionCount(2) - gc2}");
        }
    }
}
