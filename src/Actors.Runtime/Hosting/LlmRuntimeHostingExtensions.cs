using Akka.Hosting;
using Actors.Runtime.Configuration;

namespace Actors.Runtime.Hosting;

/// <summary>Registry key for the runtime's front door (the router that takes Generate and Cancel).</summary>
public sealed class LlmRuntimeRouter;

/// <summary>Akka.Hosting integration: <c>services.AddAkka("sys", b => b.WithLlmRuntime(o => o.ModelPath = "m.gguf"))</c>.</summary>
public static class LlmRuntimeHostingExtensions
{
    /// <summary>
    /// Adds the runtime: options are prepended as HOCON (they win), reference.conf is appended (defaults),
    /// the extension starts with the actor system, and the router is registered in the ActorRegistry
    /// under <see cref="LlmRuntimeRouter"/> (inject it with IRequiredActor&lt;LlmRuntimeRouter&gt;).
    /// </summary>
    public static AkkaConfigurationBuilder WithLlmRuntime(this AkkaConfigurationBuilder builder, Action<LlmRuntimeOptions>? configure = null, RuntimeSetup? setup = null)
    {
        var options = new LlmRuntimeOptions();
        configure?.Invoke(options);
        string hocon = options.ToHocon();
        if (hocon.Length > 0) builder.AddHocon(hocon, HoconAddMode.Prepend);
        builder.AddHocon(RuntimeSettings.DefaultConfig(), HoconAddMode.Append);
        // Akka's scheduler ticks every 10 ms, timers due or not, waking two threads each time beside the
        // device's compute threads; the runtime's timers are seconds long (the app's own HOCON still wins).
        builder.AddHocon("akka.scheduler.tick-duration = 50ms", HoconAddMode.Append);
        if (setup != null) builder.AddSetup(setup);
        builder.WithActors((system, registry) => registry.Register<LlmRuntimeRouter>(LlmRuntime.Get(system).Router));
        return builder;
    }

    /// <summary>
    /// Sends Akka's log (the runtime's actors included: scheduler, stages, devices) to the host's
    /// Microsoft.Extensions.Logging <c>ILoggerFactory</c> instead of Akka's console logger, at
    /// <paramref name="level"/> and above; categories are the actors' log sources.
    /// </summary>
    public static AkkaConfigurationBuilder WithLlmRuntimeLogging(this AkkaConfigurationBuilder builder, Akka.Event.LogLevel level = Akka.Event.LogLevel.InfoLevel) =>
        builder.ConfigureLoggers(loggers =>
        {
            loggers.LogLevel = level;
            loggers.ClearLoggers();
            loggers.AddLoggerFactory();
        });
}
