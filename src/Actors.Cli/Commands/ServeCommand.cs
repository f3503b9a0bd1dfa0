using Akka.Actor;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Actors.Inference.Synthetic;
using Actors.Runtime;
using Actors.Runtime.Configuration;
using Actors.Server;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors serve`: the OpenAI-compatible HTTP server (completions, chat completions, SSE streaming).
/// SIGTERM or SIGINT stops admission (503), lets in-flight requests finish up to
/// actors-server.drain-time, stops the actor system through CoordinatedShutdown and exits 0.
/// </summary>
public sealed class ServeCommand : ICommand
{
    public string Name => "serve";
    public string Summary => "serve an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, streaming)";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("host", "address to listen on (loopback unless you mean to expose it)", "127.0.0.1"),
        new("port", "TCP port, 0 = any free port (the first lines say which)", "8000"),
        new("model-name", "model id the API reports (default: the model file's name)"),
        new("api-key", $"require \"Authorization: Bearer KEY\" on every endpoint but /health (default: ${ServerSettings.ApiKeyVariable}, then actors-server.api-key)"),
        new("chat-template", "chat template: a Jinja file or a built-in name (chatml, llama3, llama2, mistral, gemma, plain); default: the model's own"),
        .. RuntimeHost.Options,
        .. ClusterArguments.Options,
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string host = a.RequireString("host");
        int port = a.Int("port", 0, 65535);
        var config = RuntimeHost.BuildConfig(a, null);
        if (DefaultModelInUse(config) is { } defaultModel) output.WriteLine(defaultModel);
        ServerSettings settings;
        try
        {
            settings = ServerSettings.Create(config).WithApiKey(a.String("api-key"), Environment.GetEnvironmentVariable(ServerSettings.ApiKeyVariable));
        }
        catch (InvalidConfigurationException ex)
        {
            throw new CliException(ex.Message);
        }
        string? clusterHocon = ClusterArguments.Overrides(a, config);
        ActorSystem system;
        LlmRuntime? runtime;
        IAsyncDisposable lifetime;
        if (clusterHocon is null)
        {
            var single = RuntimeHost.Start(a);
            (system, runtime, lifetime) = (single.System, single.Runtime, single);
        }
        else
        {
            var (node, served) = ClusterArguments.Start(a, clusterHocon);
            (system, runtime, lifetime) = (node.System, served, node);
            output.WriteLine($"cluster node {node.Address} (roles {string.Join(", ", node.Settings.Roles())}); " +
                (node.Settings.SeedNodes.Count == 0 ? "formed a new cluster" : $"joining through {string.Join(", ", node.Settings.SeedNodes)}"));
            output.Flush();
        }
        await using var stopAtEnd = lifetime;
        if (runtime is null)
        {
            output.WriteLine("worker: serving the cluster's gateways (no HTTP on this node); SIGTERM or Ctrl+C leaves the cluster and stops");
            output.Flush();
            await WaitForStopSignal(cancel);
            output.WriteLine("stopped");
            return 0;
        }
        Microsoft.AspNetCore.Builder.WebApplication app;
        try
        {
            app = OpenAiServer.Build(runtime, $"http://{host}:{port}", a.String("model-name"), settings, a.String("chat-template"));
        }
        catch (Exception ex) when (ex is FileNotFoundException or Actors.Inference.ChatTemplates.JinjaException or Actors.Inference.Model.ModelFormatException)
        {
            throw new CliException(ex.Message);
        }
        try
        {
            await app.StartAsync(cancel);
        }
        catch (IOException ex)
        {
            throw new CliException($"cannot listen on {host}:{port}: {ex.Message}");
        }
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? $"http://{host}:{port}";
        output.WriteLine($"serving {runtime.Model.Name} on {address.TrimEnd('/')}/v1 ({(clusterHocon is null ? $"layout: {runtime.Layout}" : "through the cluster gateway")}; " +
            $"{(settings.ApiKey is null ? "no API key" : "API key required")}); SIGTERM or Ctrl+C drains and stops");
        output.Flush();

        // The host's console lifetime turns SIGTERM, SIGINT and SIGQUIT into ApplicationStopping; Ctrl+C also cancels `cancel`.
        var stopping = app.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
        using var either = CancellationTokenSource.CreateLinkedTokenSource(cancel, stopping);
        try
        {
            await Task.Delay(Timeout.Infinite, either.Token);
        }
        catch (OperationCanceledException)
        {
        }

        var lifecycle = app.Services.GetRequiredService<ServerLifecycle>();
        int inFlight = lifecycle.InFlight;
        output.WriteLine($"stopping: admission closed, draining {inFlight} in-flight request(s) for up to {settings.DrainTime.TotalSeconds:0.#} s");
        output.Flush();
        bool drained = await lifecycle.DrainAsync(settings.DrainTime);
        if (!drained) output.WriteLine($"drain time over with {lifecycle.InFlight} request(s) still running; stopping them");
        using (var hard = new CancellationTokenSource(TimeSpan.FromSeconds(5))) await app.StopAsync(hard.Token);
        await app.DisposeAsync();
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
        output.WriteLine("stopped");
        return 0;
    }

    /// <summary>Waits for SIGTERM, SIGINT (Ctrl+C, also <paramref name="cancel"/>) or SIGQUIT.</summary>
    internal static async Task WaitForStopSignal(CancellationToken cancel)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        void Handler(System.Runtime.InteropServices.PosixSignalContext ctx)
        {
            ctx.Cancel = true;
            stop.Cancel();
        }
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, Handler);
        using var quit = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGQUIT, Handler);
        using var interrupt = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, Handler);
        try
        {
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The first line when no model is configured: which default model is served, so nobody mistakes it for theirs.</summary>
    private static string? DefaultModelInUse(Akka.Configuration.Config config)
    {
        string path = config.HasPath("actors-runtime.model.path") ? config.GetString("actors-runtime.model.path") ?? "" : "";
        if (path.Length > 0) return null;
        var s = DefaultModel.Spec;
        return $"no --model given: serving the embedded default model (a generated Llama with random weights: dim {s.Dim}, {s.Layers} layers, " +
            $"vocabulary {s.Vocab}, {s.WeightType}; its text is gibberish) from {DefaultModel.EnsurePath()}";
    }
}
