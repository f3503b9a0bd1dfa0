using System.Globalization;
using Akka.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Cluster.Configuration;

/// <summary>What a node does in the cluster.</summary>
public enum NodeRole
{
    Gateway = 1,
    Worker = 2,
    Both = Gateway | Worker,
}

/// <summary>A seed node's host and Akka.Remote port.</summary>
public sealed record SeedNode(string Host, int Port)
{
    public override string ToString() => $"{Host}:{Port}";
}

public sealed record GatewayOptions(
    int AffinityTokens,
    int AffinitySlack,
    int AffinityCapacity,
    double KvFullFraction,
    int MaxReadmissions,
    TimeSpan PlacementTimeout);

/// <summary>
/// The `actors-cluster` section (user config over the embedded reference.conf), validated: errors name
/// the key and the value. <see cref="AkkaConfig"/> renders what Akka.Remote and Akka.Cluster need from it.
/// </summary>
public sealed record ClusterSettings(
    NodeRole Role,
    string Hostname,
    int Port,
    IReadOnlyList<SeedNode> SeedNodes,
    string SystemName,
    TimeSpan LoadReportInterval,
    GatewayOptions Gateway)
{
    public const string Root = "actors-cluster";
    public const string GatewayRole = "gateway";
    public const string WorkerRole = "worker";

    public bool IsGateway => (Role & NodeRole.Gateway) != 0;
    public bool IsWorker => (Role & NodeRole.Worker) != 0;

    /// <summary>The embedded reference.conf: this section's defaults plus the Akka.Cluster settings it relies on.</summary>
    public static Config DefaultConfig() =>
        ConfigurationFactory.FromResource("Actors.Cluster.reference.conf", typeof(ClusterSettings).Assembly);

    public static ClusterSettings Create(Config config)
    {
        var full = config.WithFallback(DefaultConfig());
        KnownKeys.Check(full, DefaultConfig(), Root);
        var r = new HoconReader(full.GetConfig(Root), Root);
        var role = ParseRole(r.String("role"), $"{Root}.role");
        string host = r.String("hostname");
        if (host.Length == 0) throw new InvalidConfigurationException($"{Root}.hostname is empty");
        var seeds = (full.GetStringList($"{Root}.seed-nodes") ?? []).Select(s => ParseSeed(s, $"{Root}.seed-nodes")).ToList();
        string name = r.String("system-name");
        if (name.Length == 0 || !name.All(c => char.IsLetterOrDigit(c) || c is '-' or '_'))
            throw new InvalidConfigurationException($"{Root}.system-name = \"{name}\" must be letters, digits, '-' or '_'");
        var g = r.Section("gateway");
        var gateway = new GatewayOptions(
            g.Int("affinity-tokens", 0, 1 << 20),
            g.Int("affinity-slack", 0, 1 << 20),
            g.Int("affinity-capacity", 1, 1 << 26),
            g.Double("kv-full-fraction", 0.01, 1.0),
            g.Int("max-readmissions", 0, 100),
            g.Duration("placement-timeout", TimeSpan.FromMilliseconds(1)));
        return new ClusterSettings(role, host, r.Int("port", 0, 65535), seeds, name,
            r.Section("worker").Duration("load-report-interval", TimeSpan.FromMilliseconds(1)), gateway);
    }

    public static NodeRole ParseRole(string text, string key) => text.Trim().ToLowerInvariant() switch
    {
        GatewayRole => NodeRole.Gateway,
        WorkerRole => NodeRole.Worker,
        "both" => NodeRole.Both,
        _ => throw new InvalidConfigurationException($"{key} = \"{text}\" is not a role: use gateway, worker or both"),
    };

    /// <summary>"host:port", the port 1-65535; IPv6 hosts in brackets ("[::1]:4053").</summary>
    public static SeedNode ParseSeed(string text, string key)
    {
        string s = text.Trim();
        int colon = s.LastIndexOf(':');
        if (colon <= 0 || colon == s.Length - 1)
            throw new InvalidConfigurationException($"{key}: \"{text}\" is not host:port");
        string host = s[..colon];
        if (!int.TryParse(s[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new InvalidConfigurationException($"{key}: \"{text}\" has no port between 1 and 65535");
        return new SeedNode(host, port);
    }

    /// <summary>The Akka address of a seed node of this cluster.</summary>
    public string SeedAddress(SeedNode seed) => $"akka.tcp://{SystemName}@{seed.Host}:{seed.Port}";

    /// <summary>HOCON for Akka.Remote (host, port) and Akka.Cluster (roles) from these settings.</summary>
    public Config AkkaConfig() => ConfigurationFactory.ParseString($$"""
        akka.remote.dot-netty.tcp.hostname = "{{Hostname}}"
        akka.remote.dot-netty.tcp.port = {{Port}}
        akka.cluster.roles = [{{string.Join(", ", Roles().Select(x => $"\"{x}\""))}}]
        """);

    public IEnumerable<string> Roles()
    {
        if (IsGateway) yield return GatewayRole;
        if (IsWorker) yield return WorkerRole;
    }

    /// <summary>
    /// The command line's --cluster-port, --seed (comma-separated host:port) and --role as HOCON over a
    /// deployment file; null values leave the file's (or the default) value.
    /// </summary>
    public static string CommandLineOverrides(int? port, string? seeds, string? role, string? hostname = null)
    {
        var lines = new List<string>();
        if (port is { } p) lines.Add($"{Root}.port = {p}");
        if (hostname is not null) lines.Add($"{Root}.hostname = \"{hostname}\"");
        if (role is not null) lines.Add($"{Root}.role = {ParseRole(role, "--role").ToString().ToLowerInvariant()}");
        if (seeds is not null)
        {
            var list = seeds.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .Select(s => ParseSeed(s, "--seed")).ToList();
            lines.Add($"{Root}.seed-nodes = [{string.Join(", ", list.Select(s => $"\"{s}\""))}]");
        }
        return string.Join("\n", lines);
    }
}
