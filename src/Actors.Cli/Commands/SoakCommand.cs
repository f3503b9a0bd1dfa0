using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Actors.Runtime.Configuration;
using Actors.Server;
using Actors.Server.Soak;

namespace Actors.Cli.Commands;

/// <summary>
/// `actors soak`: drives many requests with cancels, disconnects, slow readers and bad bodies at a
/// server (in-process unless --url is given) and prints one JSON line; exit code 1 when a request was
/// lost, failed, or (in-process) a KV block or request actor leaked.
/// </summary>
public sealed class SoakCommand : ICommand
{
    public string Name => "soak";
    public string Summary => "soak-test the HTTP server: many requests with cancels, disconnects, slow readers, bad bodies; one JSON line";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("url", "server to drive, e.g. http://127.0.0.1:8000 (default: start one in-process on loopback)"),
        new("requests", "requests in all", "1000"),
        new("concurrency", "requests in flight at once", "16"),
        new("disconnect-rate", "fraction of requests that stream and drop the connection", "0.02"),
        new("cancel-rate", "fraction of requests the client cancels after 0-80 ms", "0.05"),
        new("slow-rate", "fraction of requests that stream and read slowly", "0.02"),
        new("bad-rate", "fraction of requests with an invalid body (each must get a 400)", "0.02"),
        new("fault-rate", "fraction of requests that meet an injected device fault (throw, NaN logits, hang past the watchdog); in-process only", "0"),
        new("max-waiting", "the runtime's queue bound (actors-runtime.scheduler.max-waiting) for an in-process server (default: from config)"),
        new("max-tokens", "most tokens per request (each picks 1 to this)", "32"),
        new("seed", "seed of every request's behaviour", "1"),
        new("timeout", "seconds after which a request without a terminal reply counts as lost", "120"),
        new("api-key", $"bearer key to send (default: ${ServerSettings.ApiKeyVariable})"),
        .. RuntimeHost.Options,
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        var options = new SoakOptions
        {
            Requests = a.Int("requests", 1),
            Concurrency = a.Int("concurrency", 1, 4096),
            DisconnectRate = a.Double("disconnect-rate", 0, 1),
            CancelRate = a.Double("cancel-rate", 0, 1),
            SlowReaderRate = a.Double("slow-rate", 0, 1),
            BadRequestRate = a.Double("bad-rate", 0, 1),
            FaultRate = a.Has("fault-rate") ? a.Double("fault-rate", 0, 1) : 0,
            MaxTokens = a.Int("max-tokens", 1),
            Seed = a.Int("seed"),
            RequestTimeout = TimeSpan.FromSeconds(a.Int("timeout", 1)),
            ApiKey = a.String("api-key") ?? Environment.GetEnvironmentVariable(ServerSettings.ApiKeyVariable),
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException ex)
        {
            throw new CliException(ex.Message);
        }

        SoakReport report;
        if (a.String("url") is { } url)
        {
            if (options.FaultRate > 0) throw new CliException("--fault-rate needs the server in-process (leave out --url; a remote server takes actors-runtime.fault-injection in its own config)");
            output.WriteLine($"soak: {options.Requests} requests, {options.Concurrency} at once, against {url}");
            report = await SoakRunner.RunAsync(new Uri(url.TrimEnd('/') + "/v1/"), options, null, cancel);
        }
        else
        {
            string extra = options.FaultInjectionHocon();
            if (a.Has("max-waiting")) extra += $"\nactors-runtime.scheduler.max-waiting = {a.Int("max-waiting", 0)}";
            ServerSettings settings;
            try
            {
                settings = ServerSettings.Create(RuntimeHost.BuildConfig(a, extra)).WithApiKey(options.ApiKey, null);
            }
            catch (InvalidConfigurationException ex)
            {
                throw new CliException(ex.Message);
            }
            await using var runtime = RuntimeHost.Start(a, extra);
            var app = OpenAiServer.Build(runtime.Runtime, "http://127.0.0.1:0", null, settings);
            await app.StartAsync(cancel);
            string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');
            output.WriteLine($"soak: {options.Requests} requests, {options.Concurrency} at once, against {runtime.Runtime.Model.Name} in-process at {address}" +
                (extra.Length > 0 ? $" with {extra.Trim().Replace('\n', ' ')}" : ""));
            try
            {
                report = await SoakRunner.RunAsync(new Uri(address + "/v1/"), options, runtime.System, cancel);
            }
            finally
            {
                await app.StopAsync(CancellationToken.None);
                await app.DisposeAsync();
            }
        }
        foreach (var failure in report.FirstFailures) output.WriteLine(failure);
        output.WriteLine(report.ToJson());
        return report.Clean ? 0 : 1;
    }
}
