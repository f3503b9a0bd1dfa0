using System.Diagnostics;
using Actors.Runtime.Protocol;

namespace Actors.Cli.Commands;

/// <summary>`actors generate`: one request through the actor runtime, text streamed to stdout as it comes.</summary>
public sealed class GenerateCommand : ICommand
{
    public string Name => "generate";
    public string Summary => "generate text from a prompt through the actor runtime, streamed as it is produced";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("prompt", "prompt text"),
        new("tokens", "prompt as comma-separated token ids instead of text"),
        .. SamplingArguments.Options,
        .. RuntimeHost.Options,
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        string? prompt = a.String("prompt");
        int[]? tokens = a.IntList("tokens");
        if ((prompt is null) == (tokens is null)) throw new CliException("give exactly one of --prompt TEXT and --tokens 1,2,3");
        if (prompt is { Length: 0 }) throw new CliException("option '--prompt' is empty");
        var request = new Generate
        {
            RequestId = "cli-" + Guid.NewGuid().ToString("N")[..8],
            Prompt = prompt,
            PromptTokens = tokens,
            MaxTokens = a.Int("max-tokens", 1, 1 << 20),
            Sampling = SamplingArguments.Parse(a),
        };

        await using var host = RuntimeHost.Start(a);
        var started = Stopwatch.StartNew();
        if (prompt != null) await output.WriteAsync(prompt);
        GenerationCompleted? completed = null;
        int generated = 0;
        try
        {
            var result = host.Runtime.StreamAsync(request, cancel);
            await foreach (var chunk in result)
            {
                await output.WriteAsync(chunk.Text);
                await output.FlushAsync(cancel);
                generated += chunk.TokenIds.Length;
            }
        }
        catch (GenerationRejectedException ex)
        {
            throw new CliException($"request rejected ({ex.Rejected.Reason}): {ex.Rejected.Message}");
        }
        await output.WriteLineAsync();
        double seconds = started.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"[{generated} tokens in {seconds:F2} s, {generated / Math.Max(seconds, 1e-9):F1} tokens/s; model {host.Runtime.Model.Name}, layout {host.Runtime.Layout}]");
        _ = completed;
        return 0;
    }
}
