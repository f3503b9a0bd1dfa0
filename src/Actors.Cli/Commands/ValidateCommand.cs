using Actors.Cli.Validate;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Simulation.Catalog;
using Actors.Simulation.Cost;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors validate`: does the simulator, configured as this machine's CPU, predict the real CPU
/// backend? Measures the machine's read bandwidth, FMA peak, the backend's matmul kernel per weight
/// format (per row length: streaming, first tile from DRAM, further tokens and tiles from cache), its
/// attention and elementwise rates and its per-operation dispatch cost, builds one device entry from
/// those measurements alone (nothing fitted to the steps), times real steps of generated models
/// (several sizes and weight types, decode at several batch sizes and a prefill chunk) and reports
/// every case's error.
/// </summary>
public sealed class ValidateCommand : ICommand
{
    public string Name => "validate";
    public string Summary => "check the simulator against this machine's CPU backend: measured vs predicted step times";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        new("models", $"generated models to time: {string.Join(", ", ValidationSuite.Models.Keys)}", string.Join(",", ValidationSuite.DefaultModels)),
        new("batches", "decode batch sizes", string.Join(",", ValidationSuite.DefaultBatches)),
        new("prefill", "tokens of the prefill chunk (0: none)", ValidationSuite.DefaultPrefillTokens.ToString()),
        new("context", "context length of every decoding sequence", ValidationSuite.DefaultContext.ToString()),
        new("threads", "CPU threads, 0 = all cores", "0"),
        new("tolerance", "largest relative error that passes, percent", "15"),
        new("json", "print one JSON object", IsFlag: true),
        new("markdown", "print the table as markdown", IsFlag: true),
    ];

    /// <summary>The faster of two measurements of one kernel (interference only slows a measurement down).</summary>
    private static MatmulKernel Better(MatmulKernel a, MatmulKernel b)
        => new(a.TileTokens, a.Rates.Zip(b.Rates, (x, y) => new MatmulRates(x.RowLength, Math.Max(x.TiledFlops, y.TiledFlops),
            Math.Max(x.SingleFlops, y.SingleFlops), Math.Max(x.StreamBandwidth, y.StreamBandwidth), Math.Max(x.TileStreamFlops, y.TileStreamFlops))))
        {
            LeftoversReread = a.LeftoversReread,
        };

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        var models = a.RequireString("models").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(name => ValidationSuite.Models.TryGetValue(name, out var m) ? m
                : throw new CliException($"option '--models': unknown model '{name}' (known: {string.Join(", ", ValidationSuite.Models.Keys)})"))
            .ToArray();
        if (models.Length == 0) throw new CliException("option '--models' names no model");
        var batches = a.IntList("batches")!;
        foreach (int b in batches) if (b < 1 || b > 4096) throw new CliException($"option '--batches': {b} must be between 1 and 4096");
        int prefill = a.Int("prefill", 0, 65536);
        int context = a.Int("context", 1, 65536);
        int threads = a.Int("threads", 0, 4096);
        if (threads == 0) threads = Environment.ProcessorCount;
        double tolerance = a.Double("tolerance", 0.1, 1000) / 100;
        // Steps of the bar: the probes before and after, and every case.
        int steps = 2 + models.Length * (batches.Length + (prefill > 0 ? 1 : 0));
        var report = await CliProgress.Run(CliProgress.ShouldShow(a.Flag("json")), "validate", steps,
            progress => Measure(models, batches, prefill, context, threads, tolerance, progress, cancel), log: Console.Error);
        if (a.Flag("json")) output.WriteLine(report.Json());
        else foreach (var line in report.Text(a.Flag("markdown"))) output.WriteLine(line);
        return report.WithinTolerance ? 0 : 1;
    }

    private static ValidationReport Measure(ValidationModel[] models, int[] batches, int prefill, int context, int threads, double tolerance,
        ProgressReporter progress, CancellationToken cancel)
    {
        int done = 0;
        var types = models.Select(m => Enum.Parse<GgmlType>(m.Spec.WeightType, ignoreCase: true)).Distinct().ToArray();
        progress.Step($"measuring read bandwidth, FMA peak and the matmul kernels of {string.Join(", ", types)} on {threads} threads...");
        double bw0 = MachineProbe.ReadBandwidth(threads), fl0 = MachineProbe.FmaFlops(threads);
        var kernels0 = types.ToDictionary(t => t, t => MachineProbe.MatmulKernel(t, threads));
        var ops0 = OpRates.Measure(threads, context);
        progress.Report(++done);

        var cases = new List<ValidationCase>();
        var formats = ModelCatalog.Default;
        foreach (var m in models)
        {
            cancel.ThrowIfCancellationRequested();
            string path = Path.Combine(SyntheticModelGenerator.DefaultCacheDirectory, $"tiny-llama-{m.Spec.CacheKey}.gguf");
            if (!File.Exists(path)) progress.Step($"generating {m.Label} (first run only; cached in {SyntheticModelGenerator.DefaultCacheDirectory})...");
            path = SyntheticModelGenerator.EnsureCached(m.Spec);
            var model = LlamaModel.Open(path);
            var shape = new ModelShape(m.Label, model.Config);
            var format = formats.Format(m.Spec.WeightType);
            long bytes = model.TotalWeightBytes;
            int ctx = Math.Min(context, model.Config.ContextLength);
            int chunk = Math.Min(prefill, model.Config.ContextLength);
            int blocks = Math.Max(StepShapes.DecodeBlocks(batches.Max(), ctx, 16), (chunk + 15) / 16);
            using var timer = new CpuStepTimer(model, threads, blocks, Math.Max(batches.Max(), chunk));
            foreach (int b in batches)
            {
                progress.Step($"  {m.Label}: decode, batch {b}");
                var batch = StepShapes.Decode(b, ctx, timer.Kv, model.Config.VocabSize);
                cases.Add(new ValidationCase(m.Label, bytes, shape, format, $"decode b={b}", BatchShape.From(batch), timer.Time(batch)));
                progress.Report(++done);
            }
            if (chunk > 0)
            {
                progress.Step($"  {m.Label}: prefill, {chunk} tokens");
                var batch = StepShapes.Prefill(chunk, timer.Kv, model.Config.VocabSize);
                cases.Add(new ValidationCase(m.Label, bytes, shape, format, $"prefill {chunk}", BatchShape.From(batch), timer.Time(batch)));
                progress.Report(++done);
            }
        }

        progress.Step("measuring again...");
        double bw1 = MachineProbe.ReadBandwidth(threads), fl1 = MachineProbe.FmaFlops(threads);
        var kernels1 = types.ToDictionary(t => t, t => MachineProbe.MatmulKernel(t, threads));
        var ops1 = OpRates.Measure(threads, context);
        var ops = OpRates.Better(ops0, ops1);
        var device = new GpuSpec
        {
            Name = "this-cpu",
            MemoryBytes = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            ReservedBytes = 0,
            MemoryBandwidth = Math.Max(bw0, bw1),
            Fp16Flops = Math.Max(fl0, fl1),
            Bf16Flops = Math.Max(fl0, fl1),
            MemoryEfficiency = 1,
            ComputeEfficiency = 1,
            LaunchOverheadSeconds = ops.DispatchSeconds,
            AttentionFlops = ops.AttentionFlops,
            ElementwiseBandwidth = ops.ElementwiseBandwidth,
            Pcie = "ethernet-10g",
            IsCpu = true,
            MatmulKernels = types.ToDictionary(t => t.ToString(), t => Better(kernels0[t], kernels1[t]), StringComparer.OrdinalIgnoreCase),
        };
        var factors = new MeasuredFactors(1, 1, ops.DispatchSeconds);
        var measured = types.ToDictionary(t => t.ToString(), t => (kernels0[t], kernels1[t]));
        progress.Report(++done);
        return new ValidationReport(threads, bw0, bw1, fl0, fl1, measured, ops0, ops1, device, factors, cases, tolerance);
    }
}
