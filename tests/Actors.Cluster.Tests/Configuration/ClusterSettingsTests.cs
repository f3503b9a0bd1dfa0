using Akka.Configuration;
using Actors.Cluster.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Cluster.Tests.Configuration;

public sealed class ClusterSettingsTests
{
    [Fact]
    public void Every_setting_has_a_default_in_reference_conf()
    {
        var s = ClusterSettings.Create(ConfigurationFactory.Empty);
        Assert.Equal(NodeRole.Both, s.Role);
        Assert.Empty(s.SeedNodes);
        Assert.Equal("actors", s.SystemName);
        Assert.True(s.Gateway.AffinityTokens > 0);
        Assert.Equal("keep-majority", ClusterSettings.DefaultConfig().GetString("akka.cluster.split-brain-resolver.active-strategy"));
    }

    [Fact]
    public void Command_line_keys_override_the_file_and_render_akka_remote_and_cluster_settings()
    {
        var file = ConfigurationFactory.ParseString("actors-cluster { role = both, port = 1, seed-nodes = [\"x:1\"] }");
        var overrides = ConfigurationFactory.ParseString(ClusterSettings.CommandLineOverrides(4053, "10.0.0.1:4053, 10.0.0.2:4054", "worker"));
        var s = ClusterSettings.Create(overrides.WithFallback(file));
        Assert.Equal(NodeRole.Worker, s.Role);
        Assert.Equal(4053, s.Port);
        Assert.Equal([new SeedNode("10.0.0.1", 4053), new SeedNode("10.0.0.2", 4054)], s.SeedNodes);
        Assert.Equal("akka.tcp://actors@10.0.0.1:4053", s.SeedAddress(s.SeedNodes[0]));
        var akka = s.AkkaConfig();
        Assert.Equal(4053, akka.GetInt("akka.remote.dot-netty.tcp.port"));
        Assert.Equal(["worker"], akka.GetStringList("akka.cluster.roles"));
    }

    [Theory]
    [InlineData("actors-cluster.role = router", "actors-cluster.role = \"router\" is not a role")]
    [InlineData("actors-cluster.seed-nodes = [\"host\"]", "actors-cluster.seed-nodes: \"host\" is not host:port")]
    [InlineData("actors-cluster.seed-nodes = [\"host:99999\"]", "no port between 1 and 65535")]
    [InlineData("actors-cluster.port = 70000", "actors-cluster.port = 70000 is out of range")]
    [InlineData("actors-cluster.gateway.affinity-tokns = 3", "actors-cluster.gateway.affinity-tokns is not a known key: did you mean actors-cluster.gateway.affinity-tokens?")]
    public void A_bad_setting_fails_naming_the_key(string hocon, string expected)
    {
        var ex = Assert.Throws<InvalidConfigurationException>(() => ClusterSettings.Create(ConfigurationFactory.ParseString(hocon)));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void A_bad_command_line_seed_or_role_fails_naming_the_option()
    {
        Assert.Contains("--seed", Assert.Throws<InvalidConfigurationException>(() => ClusterSettings.CommandLineOverrides(null, "a:1,b", null)).Message);
        Assert.Contains("--role", Assert.Throws<InvalidConfigurationException>(() => ClusterSettings.CommandLineOverrides(null, null, "boss")).Message);
    }

    [Fact]
    public void The_example_deployments_in_config_are_valid()
    {
        string dir = Path.Combine(RepositoryRoot(), "config");
        foreach (var file in new[] { "cluster-2-node.conf", "cluster-3-node.conf" })
        {
            var config = RuntimeSettings.LoadFile(Path.Combine(dir, file));
            var s = ClusterSettings.Create(config);
            Assert.NotEmpty(s.SeedNodes);
            RuntimeSettings.Create(config);
        }
    }

    internal static string RepositoryRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new DirectoryNotFoundException("Actors.sln not found above " + AppContext.BaseDirectory);
    }
}
