using Akka.Configuration;
using Actors.Inference.Synthetic;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>Generated models and HOCON for runtime tests.</summary>
public static class RuntimeFixture
{
    public static readonly string CacheDir = Path.Combine(Path.GetTempPath(), "actors-runtime-test-models");

    public static readonly SyntheticModelSpec Small = new() { Dim = 64, Heads = 4, KvHeads = 2, Ffn = 128, Layers = 4, Vocab = 320, Context = 4096, WeightType = "F32", Seed = 77 };

    public static string ModelPath(SyntheticModelSpec? spec = null) => SyntheticModelGenerator.EnsureCached(spec ?? Small, CacheDir);

    /// <summary>Runtime config with every message really serialized (serialize-messages = on).</summary>
    public static Config Config(string extra = "", SyntheticModelSpec? spec = null) => ConfigurationFactory.ParseString($$"""
        akka.actor.serialize-messages = on
        akka.loglevel = WARNING
        actors-runtime {
          model.path = "{{ModelPath(spec).Replace("\\", "/")}}"
          devices = [ { id = "cpu:0", kind = cpu, threads = 2 } ]
          kv-cache.num-blocks = 300
          scheduler.max-batched-tokens = 256
        }
        {{extra}}
        """);
}
