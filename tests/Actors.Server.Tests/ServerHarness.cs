using Akka.Actor;
using Akka.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Actors.Inference.Synthetic;
using Actors.Runtime;

namespace Actors.Server.Tests;

/// <summary>A runtime on a small generated model and the server over it, on a free loopback port.</summary>
public sealed class ServerHarness : IAsyncDisposable
{
    public ActorSystem System { get; private init; } = null!;
    public WebApplication App { get; private init; } = null!;
    public Uri Base { get; private init; } = null!;
    public ServerLifecycle Lifecycle => App.Services.GetRequiredService<ServerLifecycle>();
    public LlmRuntime Runtime => LlmRuntime.Get(System);

    public static string ModelPath() =>
        SyntheticModelGenerator.EnsureCached(new SyntheticModelSpec { Dim = 64, Ffn = 128, Layers = 2, Vocab = 320, Context = 4096, Seed = 5 },
            Path.Combine(Path.GetTempPath(), "actors-server-test-models"));

    /// <param name="hocon">Extra HOCON (actors-runtime and actors-server sections).</param>
    public static async Task<ServerHarness> Start(string hocon = "")
    {
        var config = ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            actors-runtime {
              model.path = "{{ModelPath().Replace("\\", "/")}}"
              devices = [ { id = "cpu:0", kind = cpu, threads = 1 } ] # one thread: two stall each other on a busy CI machine
              kv-cache.num-blocks = 300
            }
            {{hocon}}
            """);
        var system = ActorSystem.Create("server-test", config);
        var settings = ServerSettings.Create(system.Settings.Config);
        var app = OpenAiServer.Build(LlmRuntime.Get(system), "http://127.0.0.1:0", "tiny", settings);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ServerHarness { System = system, App = app, Base = new Uri(address.TrimEnd('/') + "/") };
    }

    public HttpClient Http(string? apiKey = null)
    {
        var http = new HttpClient { BaseAddress = Base, Timeout = TimeSpan.FromSeconds(60) };
        if (apiKey != null) http.DefaultRequestHeaders.Authorization = new("Bearer", apiKey);
        return http;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
        await System.Terminate();
    }
}

/// <summary>One server shared by the tests of a class (starting a runtime takes a moment).</summary>
public sealed class SharedServer : IAsyncLifetime
{
    public ServerHarness Server { get; private set; } = null!;
    public async Task InitializeAsync() => Server = await ServerHarness.Start("actors-server.limits { max-body-bytes = 65536, max-prompt-chars = 2000 }");
    public async Task DisposeAsync() => await Server.DisposeAsync();
}
