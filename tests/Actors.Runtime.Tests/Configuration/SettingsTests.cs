using Akka.Configuration;
using Actors.Inference.Compute;
using Actors.Runtime.Configuration;
using Actors.Runtime.Layout;

namespace Actors.Runtime.Tests.Configuration;

/// <summary>Every settings record builds from reference.conf alone; bad values name key, value and what is allowed.</summary>
public sealed class SettingsTests
{
    private static RuntimeSettings From(string hocon) => RuntimeSettings.Create(ConfigurationFactory.ParseString(hocon));

    [Fact]
    public void Reference_conf_alone_builds_every_settings_record()
    {
        var s = RuntimeSettings.Create(Config.Empty);
        Assert.Equal(512, s.Scheduler.MaxBatchedTokens);
        Assert.True(s.Scheduler.ChunkedPrefill);
        Assert.Equal(Actors.Runtime.Scheduling.PreemptionMode.Recompute, s.Scheduler.PreemptionMode);
        Assert.Equal(16, s.KvCache.BlockSize);
        Assert.Equal(KvCacheType.F32, s.KvCache.Type);
        Assert.Single(s.Devices);
        Assert.Equal(DeviceKind.Cpu, s.Devices[0].Kind);
        Assert.Equal(1, s.Layout.Replicas);
        Assert.Empty(s.Layout.Stages);
        Assert.Equal(TimeSpan.FromSeconds(30), s.Request.AdmissionTimeout);
        Assert.Empty(s.Transfer.Links);
    }

    [Theory]
    [InlineData("actors-runtime.scheduler.max-batched-tokens = -5", "actors-runtime.scheduler.max-batched-tokens = -5 is out of range")]
    [InlineData("actors-runtime.scheduler.max-batched-tokens = lots", "is not an integer")]
    [InlineData("actors-runtime.scheduler.preemption-mode = pray", "use one of recompute, swap")]
    [InlineData("actors-runtime.kv-cache.type = q4", "actors-runtime.kv-cache.type = \"q4\" is not allowed")]
    [InlineData("actors-runtime.kv-cache.memory-fraction = 2", "memory-fraction = 2 is out of range")]
    [InlineData("actors-runtime.scheduler.chunked-prefill = maybe", "is not a boolean")]
    [InlineData("actors-runtime.devices = []", "devices is empty")]
    [InlineData("actors-runtime.devices = [ { id = \"gpu9\", kind = tpu } ]", "kind = \"tpu\" is not allowed")]
    [InlineData("actors-runtime.devices = [ { id = a, kind = cpu }, { id = a, kind = cpu } ]", "is listed twice")]
    [InlineData("actors-runtime.layout.stages = [ { device = \"cuda:7\", layers = \"0-3\" } ]", "\"cuda:7\" is not a configured device")]
    [InlineData("actors-runtime.layout.stages = [ { device = \"cpu:0\", layers = \"3-1\" } ]", "is not a layer range")]
    [InlineData("actors-runtime.request.admission-timeout = soon", "is not a duration")]
    public void Invalid_values_name_the_key_the_value_and_what_is_allowed(string hocon, string expected)
    {
        var ex = Assert.Throws<InvalidConfigurationException>(() => From(hocon));
        Assert.Contains(expected, ex.Message);
    }

    private static readonly LayerCosts TwelveLayers = new(Enumerable.Repeat(100L, 12).ToList(), 50, 50, 8);

    [Fact]
    public void Explicit_layout_that_leaves_layers_out_is_named()
    {
        var layout = new LayoutOptions(1, 1, [new StageOptions(0, "a", new LayerRange(0, 5)), new StageOptions(0, "b", new LayerRange(6, 12))]);
        var ex = Assert.Throws<InvalidConfigurationException>(() => LayoutPlanner.Plan(layout, [new("a", 1000), new("b", 1000)], TwelveLayers));
        Assert.Contains("layers 5 are not covered", ex.Message);
    }

    [Fact]
    public void Explicit_layout_that_covers_a_layer_twice_is_named()
    {
        var layout = new LayoutOptions(1, 1, [new StageOptions(0, "a", new LayerRange(0, 7)), new StageOptions(0, "b", new LayerRange(6, 12))]);
        var ex = Assert.Throws<InvalidConfigurationException>(() => LayoutPlanner.Plan(layout, [new("a", 1000), new("b", 1000)], TwelveLayers));
        Assert.Contains("layer 6 is covered twice (stages 0 and 1)", ex.Message);
    }

    [Fact]
    public void Automatic_split_is_balanced_by_device_memory()
    {
        var even = LayoutPlanner.Split(TwelveLayers, [1, 1, 1, 1]);
        Assert.Equal([new(0, 3), new(3, 6), new(6, 9), new(9, 12)], even);
        var skewed = LayoutPlanner.Split(TwelveLayers, [3, 1]);
        Assert.True(skewed[0].Count > skewed[1].Count * 2);
        Assert.Equal(12, skewed.Sum(r => r.Count));
    }

    [Fact]
    public void Too_few_devices_for_the_layout_is_named_with_the_numbers()
    {
        var ex = Assert.Throws<InvalidConfigurationException>(() =>
            LayoutPlanner.Plan(new LayoutOptions(2, 2, []), [new("a", 1), new("b", 1), new("c", 1)], TwelveLayers));
        Assert.Contains("needs 4 devices", ex.Message);
    }
}
