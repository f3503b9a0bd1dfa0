using Akka.Configuration;
using Actors.Runtime.Configuration;

namespace Actors.Server;

/// <summary>Limits on one request, checked before any work (tokenizing, admission).</summary>
public sealed record RequestLimits(long MaxBodyBytes, int MaxPromptChars, int MaxStopSequences, int MaxStopLength, int MaxMessages)
{
    /// <summary>Most choices (`n`) one request may ask for.</summary>
    public int MaxChoices { get; init; } = 16;
    /// <summary>Most inputs of one embeddings request.</summary>
    public int MaxEmbeddingInputs { get; init; } = 2048;
}

/// <summary>
/// The server's settings from the `actors-server` section (user config over the embedded
/// reference.conf), validated; defaults live only in reference.conf.
/// </summary>
public sealed record ServerSettings(string? ApiKey, bool AllowClientPriority, TimeSpan DrainTime, TimeSpan RetryAfter, TimeSpan MaxRequestDuration, RequestLimits Limits)
{
    public const string Root = "actors-server";

    /// <summary>Where the OTLP exporter pushes metrics (actors-server.metrics.otlp-endpoint); null: no OTLP.</summary>
    public Uri? OtlpEndpoint { get; init; }
    public TimeSpan OtlpInterval { get; init; } = TimeSpan.FromSeconds(10);
    /// <summary>Other names a request's "model" may use for the served model (actors-server.model-aliases).</summary>
    public IReadOnlyList<string> ModelAliases { get; init; } = [];
    /// <summary>How /v1/embeddings pools hidden states (actors-server.embedding-pooling).</summary>
    public Runtime.Protocol.EmbeddingPooling EmbeddingPooling { get; init; }
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
        var m = r.Section("metrics");
        string otlp = m.String("otlp-endpoint");
        if (otlp.Length > 0 && (!Uri.TryCreate(otlp, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https")))
            throw new InvalidConfigurationException($"{Root}.metrics.otlp-endpoint = \"{otlp}\" is not an http(s) URL");
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
                l.Int("max-messages", 1)) { MaxChoices = l.Int("max-choices", 1, 128), MaxEmbeddingInputs = l.Int("max-embedding-inputs", 1) })
        {
            OtlpEndpoint = otlp.Length > 0 ? new Uri(otlp) : null,
            OtlpInterval = m.Duration("otlp-interval", TimeSpan.FromMilliseconds(100)),
            ModelAliases = ReadAliases(full),
            EmbeddingPooling = r.String("embedding-pooling") switch
            {
                "mean" => Runtime.Protocol.EmbeddingPooling.Mean,
                "last" => Runtime.Protocol.EmbeddingPooling.Last,
                var other => throw new InvalidConfigurationException($"{Root}.embedding-pooling = \"{other}\" is not one of mean, last"),
            },
        };
    }

    private static IReadOnlyList<string> ReadAliases(Config full)
    {
        var aliases = full.GetStringList(Root + ".model-aliases") ?? [];
        foreach (var a in aliases)
            if (string.IsNullOrWhiteSpace(a)) throw new InvalidConfigurationException($"{Root}.model-aliases holds an empty name");
        return aliases.ToArray();
    }

    /// <summary>The key from the command line, else the environment variable, else the configured one.</summary>
    public ServerSettings WithApiKey(string? commandLine, string? environment) =>
        !string.IsNullOrEmpty(commandLine) ? this with { ApiKey = commandLine }
        : !string.IsNullOrEmpty(environment) ? this with { ApiKey = environment }
        : this;

    public int RetryAfterSeconds => Math.Max(1, (int)Math.Ceiling(RetryAfter.TotalSeconds));
}
