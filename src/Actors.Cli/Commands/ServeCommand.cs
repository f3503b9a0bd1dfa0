using Actors.Server;

namespace Actors.Cli.Commands;

/// <summary>`actors serve`: the OpenAI-compatible HTTP server (completions, chat completions, SSE streaming).</summary>
public sealed class ServeCommand : ICommand
{
    public string Name => "serve";
    public string Summary => "serve an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions, streaming)";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("host", "address to listen on", "127.0.0.1"),
        new("port", "TCP port", "8000"),
        new("model-name", "model id the API reports (default: the model file's name)"),
        new("chat-template", "chat template: a Jinja file or a built-in name (chatml, llama3, llama2, mistral, gemma, plain); default: the model's own"),
        .. RuntimeHost.Options,
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string host = a.RequireString("host");
        int port = a.Int("port", 1, 65535);
        await using var runtime = RuntimeHost.Start(a);
        Microsoft.AspNetCore.Builder.WebApplication app;
        try
        {
            app = OpenAiServer.Build(runtime.Runtime, $"http://{host}:{port}", a.String("model-name"), a.String("chat-template"));
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
        output.WriteLine($"serving {runtime.Runtime.Model.Name} on http://{host}:{port}/v1 (layout: {runtime.Runtime.Layout}); Ctrl+C stops");
        try
        {
            await Task.Delay(Timeout.Infinite, cancel);
        }
        catch (OperationCanceledException)
        {
        }
        await app.StopAsync(CancellationToken.None);
        return 0;
    }
}
