using Akka.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Server;

/// <summary>Limits on one request, checked before any work (tokenizing, admission).</summary>
public sealed record RequestLimits(long MaxBodyBytes, int MaxPromptChars, int MaxStopSequences, int MaxStopLength, int MaxMessages);

/// <summary>
/// The server's settings from the `actors-server` section (user config over the embedded
/// reference.conf), validated; defaults live only in reference.conf.
/// </summary>
public sealed record ServerSettings(string? ApiKey, bool AllowClientPriority, TimeSpan DrainTime, TimeSpan RetryAfter, TimeSpan MaxRequestDuration, RequestLimits Limits)
{
    public const string Root = "actors-server";
    public const string ApiKeyVariable = "ACTORS_API_KEY";

    public static Config DefaultConfig() =>
        ConfigurationFactory.FromResource("Actors.Server.reference.conf", typeof(ServerSettings).Assembly);

    public static ServerSettings Default { get; } = Create(Config.Empty);

    public static ServerSettings Create(Config config)
    {
        var full = config.WithFallback(DefaultConfig());
        KnownKeys.Check(full, DefaultConfig(), Root);
        var r = new HoconReader(full.GetConfig(Root), Root);
        var l = r.Section("limits");
        string key = r.String("api-key");
        return new ServerSettings(
            key.Length > 0 ? key : null,
            r.Bool("allow-client-priority"),
            r.Duration("drain-time"),
            r.Duration("retry-after"),
            r.Duration("max-request-duration"),
            new RequestLimits(
                l.Int("max-body-bytes", 1024),
                l.Int("max-prompt-chars", 0),
                l.Int("max-stop-sequences", 0, 1024),
                l.Int("max-stop-length", 1, 1 << 20),
                l.Int("max-messages", 1)));
    }

    /// <summary>The key from the command line, else the environment variable, else the configured one.</summary>
    public ServerSettings WithApiKey(string? commandLine, string? environment) =>
        !string.IsNullOrEmpty(commandLine) ? this with { ApiKey = commandLine }
        : !string.IsNullOrEmpty(environment) ? this with { ApiKey = environment }
        : this;

    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(RetryAfter.TotalSeconds));
}
