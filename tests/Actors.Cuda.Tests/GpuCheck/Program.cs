using System.Globalization;
using System.Text.Json;
using Actors.Cuda.Topology;
using Actors.Interop.Cuda;

namespace Actors.Cuda.Tests.GpuCheck;

/// <summary>
/// The GPU check runner. The test project doubles as a console program (xunit never calls Main), so a
/// self-contained publish of it runs the very GPU tests `dotnet test` runs on a machine with no .NET
/// SDK and no xunit runner (tools/gpu-bundle.sh builds it; the bundle's run.sh drives it):
///   probe                      is CUDA usable? (exit 3 if not)
///   libs                       open device 0; which NVRTC/cuBLAS/cuBLASLt/NVML were loaded from where (exit 5: no cuBLAS)
///   list [group]               GPU test case ids (groups: op, stage)
///   run-cases ID...            run cases in this process (the line protocol of CaseRunner)
///   suite GROUP [--timeout S] [--budget S] [--results FILE] [--cases ID,...] [--wrap CMD ARGS...]
///                              every case of GROUP, one process per test method (see IsolatedSuite);
///                              --wrap runs each child under a command such as compute-sanitizer
///   bench [--types F16,Q8_0,Q4_K_M] [--batches 1,8,64] [--layers 2] [--dim 4096] [--ffn 11008] [--prompt 128] [--steps 16]
///   topology                   the discovered GPU topology
/// </summary>
public static class Program
{
    public const int ExitNoGpu = 3, ExitUsage = 2, ExitSanitizerRefused = 6;

    public static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: Actors.Cuda.Tests probe | libs | list [group] | run-cases ID... | suite GROUP [options] | bench [options] | topology");
            return ExitUsage;
        }
        try
        {
            return args[0] switch
            {
                "probe" => Probe(),
                "libs" => LibraryReport.Run(Console.Out),
                "list" => List(args.Length > 1 ? args[1] : null),
                "run-cases" => CaseRunner.Run(GpuCaseCatalog.Select(GpuCaseCatalog.All(), args.Skip(1)), Console.Out),
                "suite" => Suite(args[1..]),
                "bench" => Bench(args[1..]),
                "topology" => Topology(),
                _ => Usage($"unknown command '{args[0]}'"),
            };
        }
        catch (ArgumentException e)
        {
            return Usage(e.Message);
        }
    }

    private static int Usage(string message)
    {
        Console.Error.WriteLine(message);
        return ExitUsage;
    }

    private static int Probe()
    {
        var cuda = CudaAvailability.Probe();
        Console.WriteLine(cuda.Message);
        return cuda.IsAvailable ? 0 : ExitNoGpu;
    }

    private static int List(string? group)
    {
        foreach (var c in GpuCaseCatalog.All().Where(c => group == null || c.Group == group)) Console.WriteLine($"{c.Id}\t{c.Display}");
        return 0;
    }

    private static int Topology()
    {
        if (!CudaAvailability.Probe().IsAvailable) return Probe();
        Console.Write(CudaTopology.Discover().Format());
        return 0;
    }

    /// <summary>Splits "--name value" options; everything after --wrap is the wrapper command.</summary>
    public static (Dictionary<string, string> Options, List<string> Positional, List<string> Wrapper) ParseOptions(IReadOnlyList<string> args)
    {
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        var positional = new List<string>();
        var wrapper = new List<string>();
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == "--wrap")
            {
                wrapper.AddRange(args.Skip(i + 1));
                break;
            }
            if (args[i].StartsWith("--", StringComparison.Ordinal))
            {
                if (i + 1 >= args.Count) throw new ArgumentException($"option {args[i]} needs a value");
                options[args[i][2..]] = args[++i];
            }
            else
            {
                positional.Add(args[i]);
            }
        }
        return (options, positional, wrapper);
    }

    private static double Number(Dictionary<string, string> o, string name, double fallback) =>
        !o.TryGetValue(name, out var v) ? fallback
        : double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && d > 0 ? d
        : throw new ArgumentException($"--{name} must be a positive number, got '{v}'");

    private static int Suite(string[] args)
    {
        var (o, positional, wrapper) = ParseOptions(args);
        if (positional.Count != 1) throw new ArgumentException("suite needs one group (op or stage)");
        var cases = GpuCaseCatalog.All().Where(c => c.Group == positional[0]).ToList();
        if (o.TryGetValue("cases", out var only)) cases = GpuCaseCatalog.Select(cases, only.Split(',')).ToList();
        if (cases.Count == 0) throw new ArgumentException($"no GPU test cases in group '{positional[0]}'");
        double timeout = Number(o, "timeout", 120), budget = Number(o, "budget", 600);
        using var results = o.TryGetValue("results", out var file) ? new StreamWriter(file, append: true) : null;
        var log = Console.Out;
        var all = IsolatedSuite.Run(cases, ids => IsolatedSuite.RunChildProcess(ids, wrapper, timeout, log), budget,
            r =>
            {
                log.WriteLine($"RESULT {r.Outcome} {r.Id} {r.Seconds.ToString("0.000", CultureInfo.InvariantCulture)} {r.Message}");
                results?.WriteLine(ToJson(positional[0], wrapper.Count > 0, r));
                results?.Flush();
            },
            wrapper.Count > 0 ? IsolatedSuite.SanitizerError : null);
        int Count(CaseOutcome outcome) => all.Count(r => r.Outcome == outcome);
        Console.WriteLine($"SUMMARY {positional[0]} cases={all.Count} passed={Count(CaseOutcome.Passed)} failed={Count(CaseOutcome.Failed)} crashed={Count(CaseOutcome.Crashed)} timed_out={Count(CaseOutcome.TimedOut)} not_run={Count(CaseOutcome.NotRun)}");
        if (wrapper.Count > 0 && all.All(r => r.Outcome == CaseOutcome.NotRun))
        {
            Console.WriteLine($"REFUSED {all[0].Message}");
            return ExitSanitizerRefused;
        }
        return all.All(r => r.Outcome == CaseOutcome.Passed) ? 0 : 1;
    }

    /// <summary>One line of cases.jsonl. Written with Utf8JsonWriter: a trimmed publish has no reflection-based serializer.</summary>
    public static string ToJson(string group, bool sanitizer, CaseResult r)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("group", group);
            json.WriteBoolean("sanitizer", sanitizer);
            json.WriteString("id", r.Id);
            json.WriteString("outcome", r.Outcome.ToString());
            json.WriteNumber("seconds", Math.Round(r.Seconds, 3));
            json.WriteString("message", r.Message);
            json.WriteEndObject();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static int Bench(string[] args)
    {
        var (o, _, _) = ParseOptions(args);
        var d = new BenchmarkOptions();
        IReadOnlyList<int> Ints(string name, IReadOnlyList<int> fallback) => o.TryGetValue(name, out var v) ? v.Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray() : fallback;
        int Int(string name, int fallback) => (int)Number(o, name, fallback);
        var options = d with
        {
            Types = o.TryGetValue("types", out var t) ? t.Split(',') : d.Types,
            Batches = Ints("batches", d.Batches),
            Layers = Int("layers", d.Layers), Dim = Int("dim", d.Dim), Ffn = Int("ffn", d.Ffn), Heads = Int("heads", d.Heads),
            KvHeads = Int("kv-heads", d.KvHeads), Vocab = Int("vocab", d.Vocab), Prompt = Int("prompt", d.Prompt), Steps = Int("steps", d.Steps),
            CopyBytes = (long)Number(o, "copy-mib", d.CopyBytes >> 20) << 20,
        };
        if (!CudaAvailability.Probe().IsAvailable) return Probe();
        using var device = CudaDevice.Create(0);
        Console.WriteLine(device);
        Benchmark.Run(device, options, Console.Out);
        return 0;
    }
}
