using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Actors.Runtime.Hosting;

/// <summary>
/// The runtime in a plain .NET host: <c>services.AddLlmRuntime(configuration.GetSection("Actors"))</c> binds
/// <see cref="LlmRuntimeOptions"/> from configuration (appsettings.json, environment, command line), validates
/// them when the host starts, starts the actor system through Akka.Hosting (its log going to the host's
/// ILoggerFactory) and registers <see cref="LlmRuntime"/> as a singleton.
/// </summary>
public static class LlmRuntimeServiceCollectionExtensions
{
    public const string DefaultActorSystemName = "actors-llm";

    public static IServiceCollection AddLlmRuntime(this IServiceCollection services, IConfiguration section, RuntimeSetup? setup = null,
        string actorSystemName = DefaultActorSystemName)
    {
        services.AddOptions<LlmRuntimeOptions>().Bind(section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LlmRuntimeOptions>>(new LlmRuntimeOptionsValidator(section is IConfigurationSection s ? s.Path : ""));
        return AddRuntime(services, setup, actorSystemName);
    }

    public static IServiceCollection AddLlmRuntime(this IServiceCollection services, Action<LlmRuntimeOptions> configure, RuntimeSetup? setup = null,
        string actorSystemName = DefaultActorSystemName)
    {
        services.AddOptions<LlmRuntimeOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LlmRuntimeOptions>>(new LlmRuntimeOptionsValidator(""));
        return AddRuntime(services, setup, actorSystemName);
    }

    private static IServiceCollection AddRuntime(IServiceCollection services, RuntimeSetup? setup, string actorSystemName)
    {
        services.AddAkka(actorSystemName, (builder, provider) =>
        {
            string hocon = provider.GetRequiredService<IOptions<LlmRuntimeOptions>>().Value.ToHocon();
            if (hocon.Length > 0) builder.AddHocon(hocon, HoconAddMode.Prepend);
            builder.WithLlmRuntime(setup: setup).WithLlmRuntimeLogging();
        });
        services.AddSingleton(provider => LlmRuntime.Get(provider.GetRequiredService<ActorSystem>()));
        return services;
    }
}

/// <summary>Checks the bound options when the host starts; each failure names the configuration key.</summary>
internal sealed class LlmRuntimeOptionsValidator(string sectionPath) : IValidateOptions<LlmRuntimeOptions>
{
    public ValidateOptionsResult Validate(string? name, LlmRuntimeOptions o)
    {
        var failures = new List<string>();
        string Key(string property) => sectionPath.Length == 0 ? property : sectionPath + ":" + property;
        void Positive(int? value, string property)
        {
            if (value is <= 0) failures.Add($"{Key(property)} is {value}; it must be at least 1");
        }
        Positive(o.MaxBatchedTokens, nameof(o.MaxBatchedTokens));
        Positive(o.MaxRunningSequences, nameof(o.MaxRunningSequences));
        Positive(o.MaxWaiting, nameof(o.MaxWaiting));
        Positive(o.KvBlockSize, nameof(o.KvBlockSize));
        Positive(o.KvBlocks, nameof(o.KvBlocks));
        Positive(o.Replicas, nameof(o.Replicas));
        Positive(o.Pipeline, nameof(o.Pipeline));
        Positive(o.CpuDevices, nameof(o.CpuDevices));
        Positive(o.CudaDevices, nameof(o.CudaDevices));
        if (o.ThreadsPerDevice is < 0) failures.Add($"{Key(nameof(o.ThreadsPerDevice))} is {o.ThreadsPerDevice}; it must be 0 (all cores) or more");
        if (o.ModelPath is { Length: > 0 } path && !File.Exists(path)) failures.Add($"{Key(nameof(o.ModelPath))}: no file at \"{path}\"");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
