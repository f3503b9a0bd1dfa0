using System.Diagnostics;
using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Benchmarks;

internal static class LoadPhases
{
    public static int Run(string[] args)
    {
        var sw = Stopwatch.StartNew();
        using var model = LlamaModel.Open(args[0]);
        double open = sw.Elapsed.TotalSeconds;
        var all = model.Layers.SelectMany(l => l.Matrices).Append(model.Output).Where(w => w.Type == GgmlType.Q4_K).ToList();
        long bytes = all.Sum(w => (long)w.ByteSize);
        int gc0 = GC.CollectionCount(0), gc2 = GC.CollectionCount(2);
        sw.Restart();
        if (args.Length > 1 && args[1] == "touch")
        {
            int s = 0;
            foreach (var w in all) { var sp = w.RowSpan(0, w.Rows); for (int i = 0; i < sp.Length; i += 4096) s += sp[i]; }
            Console.WriteLine($"touch source {sw.Elapsed.TotalMilliseconds:F1} ms ({s})");
            sw.Restart();
        }
        using var pool = new CpuWorkerPool(2);
        var me = Process.GetCurrentProcess();
        var cpu0 = me.TotalProcessorTime; var u0 = me.UserProcessorTime;
        double t = WeightRepacking.RepackStage(model, 0, model.Layers.Count, true, pool);
        Console.WriteLine($"open {open * 1000:F1} ms; Q4_K {bytes / 1e6:F1} MB in {all.Count} matrices; RepackStage {t * 1000:F1} ms ({bytes / t / 1e9:F2} GB/s); gen0 {GC.CollectionCount(0) - gc0} gen2 {GC.CollectionCount(2) - gc2}");
        me.Refresh();
        Console.WriteLine($"  cpu {(me.TotalProcessorTime - cpu0).TotalMilliseconds:F1} ms, of which user {(me.UserProcessorTime - u0).TotalMilliseconds:F1} ms");
        using var model2 = LlamaModel.Open(args[0]);
        me.Refresh();
        cpu0 = me.TotalProcessorTime; u0 = me.UserProcessorTime;
        gc2 = GC.CollectionCount(2);
        t = WeightRepacking.RepackStage(model2, 0, model2.Layers.Count, true, pool);
        me.Refresh();
        Console.WriteLine($"  again (JIT warm, source pages released by the first): {t * 1000:F1} ms, cpu {(me.TotalProcessorTime - cpu0).TotalMilliseconds:F1} ms, user {(me.UserProcessorTime - u0).TotalMilliseconds:F1} ms, gen2 {GC.CollectionCount(2) - gc2}");
        return 0;
    }
}
