using Akka.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Runtime.Tests.Configuration;

/// <summary>Keys that reference.conf does not define fail at start, naming the key and the nearest valid one.</summary>
public sealed class UnknownKeyTests
{
    private static RuntimeSettings From(string hocon) => RuntimeSettings.Create(ConfigurationFactory.ParseString(hocon));

    [Theory]
    [InlineData("actors-runtime.model.pth = \"/models/x.gguf\"", "actors-runtime.model.pth is not a known key: did you mean actors-runtime.model.path?")]
    [InlineData("actors-runtime.scheduler.max-batch-tokens = 64", "did you mean actors-runtime.scheduler.max-batched-tokens?")]
    [InlineData("actors-runtime { kv-cache { blocksize = 8 } }", "actors-runtime.kv-cache.blocksize is not a known key: did you mean actors-runtime.kv-cache.block-size?")]
    [InlineData("actors-runtime.clocks = virtual", "did you mean actors-runtime.clock?")]
    [InlineData("actors-runtime.devices = [ { id = \"cpu:0\", kind = cpu, thread = 2 } ]", "actors-runtime.devices[0].thread is not a known key: did you mean threads?")]
    [InlineData("actors-runtime.layout.stages = [ { device = \"cpu:0\", layer = \"0-1\" } ]", "actors-runtime.layout.stages[0].layer is not a known key: did you mean layers?")]
    public void Unknown_keys_are_an_error_naming_the_key_and_the_nearest_valid_one(string hocon, string expected)
    {
        var ex = Assert.Throws<InvalidConfigurationException>(() => From(hocon));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Known_keys_and_keys_outside_the_section_are_accepted()
    {
        var s = From("""
            akka.loglevel = INFO
            some-other-library.anything = 1
            actors-runtime {
              model { path = "", name = "x" }
              scheduler.max-waiting = 7
              devices = [ { id = "sim:0", kind = simulated, spec = rtx3090 } ]
              layout.stages = [ { replica = 0, device = "sim:0", layers = "0-1" } ]
              transfer.links = [ { from = a, to = b, kind = nvlink, bandwidth = 1e9, latency = 1us } ]
              device-dispatchers.cpu-0 { type = ForkJoinDispatcher }
            }
            """);
        Assert.Equal(7, s.Scheduler.MaxWaiting);
    }

    [Theory]
    [InlineData("model.path", "model.pth", 1)]
    [InlineData("kitten", "sitting", 3)]
    [InlineData("", "abc", 3)]
    public void Edit_distance_counts_insertions_deletions_and_substitutions(string a, string b, int expected) =>
        Assert.Equal(expected, KnownKeys.EditDistance(a, b));
}
