using Actors.Simulation.Catalog;

namespace Actors.Simulation.Planning;

/// <summary>
/// A workload with a name and how many requests an event-driven simulation of it runs
/// (<see cref="Requests"/> = 0: the simulator chooses, a few per sequence in flight).
/// </summary>
public sealed record NamedWorkload(string Name, Workload Workload, int Requests = 0)
{
    public override string ToString() => $"{Name}: {Workload}";
}

/// <summary>
/// The workloads a user names on the command line (`chat`, `long-context`, `batch-decode`) and the
/// small HOCON or JSON files that describe their own:
/// <code>
/// concurrency = 16              # sequences kept in flight (closed loop)
/// prompt = "lognormal:512:0.8"  # N, MIN-MAX or lognormal:MEDIAN:SIGMA tokens
/// output = 256
/// requests = 200                # optional: requests the simulation runs
/// prefill-chunk-tokens = 2048   # optional: prompt tokens per step (vLLM's max_num_batched_tokens)
/// </code>
/// </summary>
public static class WorkloadPresets
{
    /// <summary>
    /// Chat: the article's shape (prompt 512, output 256). Long context: a document plus a question
    /// filling most of a 4k window. Batch decode: short prompts, long generations, many in flight
    /// (offline jobs where aggregate tokens/s is all that counts).
    /// </summary>
    public static IReadOnlyDictionary<string, NamedWorkload> All { get; } = new Dictionary<string, NamedWorkload>(StringComparer.OrdinalIgnoreCase)
    {
        ["chat"] = new("chat", Workload.Fixed(16, 512, 256)),
        ["long-context"] = new("long-context", Workload.Fixed(4, 3072, 512)),
        ["batch-decode"] = new("batch-decode", Workload.Fixed(64, 128, 1024)),
    };

    /// <summary>A preset by name, or a workload file (HOCON or JSON) by path.</summary>
    public static NamedWorkload Resolve(string presetOrPath)
    {
        if (All.TryGetValue(presetOrPath, out var preset)) return preset;
        if (File.Exists(presetOrPath)) return Parse(File.ReadAllText(presetOrPath), presetOrPath);
        throw new CatalogException($"workload '{presetOrPath}' is neither a preset ({string.Join(", ", All.Keys)}) nor a file");
    }

    /// <summary>Parses a workload file; errors name the file and the key.</summary>
    public static NamedWorkload Parse(string text, string source)
    {
        var root = HoconSections.Parse(text, source);
        var f = new HoconFields(root, source);
        int concurrency = f.RequiredInt("concurrency", 1, 100_000);
        var prompt = Lengths(f, "prompt");
        var output = Lengths(f, "output");
        int chunk = f.Has("prefill-chunk-tokens") ? f.RequiredInt("prefill-chunk-tokens", 1, 1 << 20) : 2048;
        int requests = f.Has("requests") ? f.RequiredInt("requests", 1, 1_000_000) : 0;
        string name = Path.GetFileNameWithoutExtension(source);
        return new NamedWorkload(name, new Workload(concurrency, prompt, output, chunk), requests);
    }

    private static LengthDistribution Lengths(HoconFields f, string key)
    {
        string text = f.OptionalString(key) ?? throw new CatalogException($"{f.Path}.{key} is missing");
        try
        {
            return LengthDistribution.Parse(text.Trim());
        }
        catch (Exception e) when (e is FormatException or ArgumentOutOfRangeException)
        {
            throw new CatalogException($"{f.Path}.{key} = '{text}': {e.Message.Split('\n')[0]}");
        }
    }
}
