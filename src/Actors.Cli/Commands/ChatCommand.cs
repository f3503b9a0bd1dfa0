namespace Actors.Cli.Commands;

/// <summary>
/// `actors chat`: an interactive conversation. Each line read from stdin is a user turn; the reply is
/// streamed with the model's chat template applied to the whole history. An empty line is skipped;
/// end of input or "/exit" ends it. Works with piped stdin (no prompt is shown when stdin is redirected).
/// </summary>
public sealed class ChatCommand(TextReader? input = null) : ICommand
{
    public string Name => "chat";
    public string Summary => "interactive chat with the model's chat template, one user turn per line of stdin";

    public IReadOnlyList<OptionSpec> Options { get; } =
    [
        ModelArguments.Option,
        new("system", "a system message opening the conversation"),
        new("chat-template", "a Jinja file or a built-in name overriding the model's template"),
        .. SamplingArguments.Options,
        .. RuntimeHost.Options,
    ];

    public async Task<int> RunAsync(Arguments a, TextWriter output, CancellationToken cancel)
    {
        var sampling = SamplingArguments.Parse(a);
        int maxTokens = a.Int("max-tokens", 1, 1 << 20);
        await using var host = RuntimeHost.Start(a);
        var template = host.Runtime.ChatTemplate(a.String("chat-template"));
        var session = new ChatSession(host.Runtime, template, sampling, maxTokens, a.String("system"));
        var reader = input ?? Console.In;
        bool interactive = input is null && !Console.IsInputRedirected;
        if (interactive) Console.Error.WriteLine($"[chat with {host.Runtime.Model.Name} ({template.Origin}); Ctrl-D or /exit ends it]");
        while (!cancel.IsCancellationRequested)
        {
            if (interactive) Console.Error.Write("> ");
            string? line = await reader.ReadLineAsync(cancel);
            if (line is null || line.Trim() == "/exit") break;
            if (line.Trim().Length == 0) continue;
            try
            {
                var (_, done) = await session.SendAsync(line, output, cancel);
                await output.WriteLineAsync();
                Console.Error.WriteLine($"[{done.Usage.PromptTokens} prompt tokens ({done.Usage.CachedPromptTokens} cached), {done.Usage.CompletionTokens} tokens, {done.Reason.ToString().ToLowerInvariant()}]");
            }
            catch (Actors.Runtime.Protocol.GenerationRejectedException ex)
            {
                throw new CliException($"turn {session.Turns} rejected ({ex.Rejected.Reason}): {ex.Rejected.Message}");
            }
        }
        return 0;
    }
}
