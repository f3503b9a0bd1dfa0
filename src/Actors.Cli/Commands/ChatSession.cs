using System.Text;
using System.Text.Json.Nodes;
using Actors.Inference.ChatTemplates;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cli.Commands;

/// <summary>
/// One conversation with the runtime: every turn renders the whole history with the model's chat template
/// (its control tokens parsed, the user's text never), streams the reply, and keeps it for the next turn.
/// </summary>
public sealed class ChatSession(LlmRuntime runtime, ChatTemplate template, SamplingOptions sampling, int maxTokens, string? system = null)
{
    private readonly JsonArray _messages = system is null ? [] : [new JsonObject { ["role"] = "system", ["content"] = system }];
    private int _turn;

    /// <summary>User turns sent so far.</summary>
    public int Turns => _turn;

    /// <summary>Streams the reply to <paramref name="output"/> and returns it with its final message.</summary>
    public async Task<(string Reply, GenerationCompleted Completed)> SendAsync(string user, TextWriter output, CancellationToken cancel)
    {
        _messages.Add(new JsonObject { ["role"] = "user", ["content"] = user });
        int[] prompt = template.Tokenize(runtime.Tokenizer, _messages, addGenerationPrompt: true);
        var request = new Generate
        {
            RequestId = $"chat-{Guid.NewGuid():N}"[..16] + "-" + _turn++,
            PromptTokens = prompt,
            MaxTokens = maxTokens,
            Sampling = sampling,
        };
        var reply = new StringBuilder();
        var (chunks, completion) = runtime.StreamWithCompletion(request, cancel);
        await foreach (var chunk in chunks)
        {
            reply.Append(chunk.Text);
            await output.WriteAsync(chunk.Text);
            await output.FlushAsync(cancel);
        }
        var done = await completion;
        if (done.Reason == FinishReason.Error) throw new CliException($"generation failed: {done.Error}");
        _messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = reply.ToString() });
        return (reply.ToString(), done);
    }
}
