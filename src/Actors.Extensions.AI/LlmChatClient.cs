using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Actors.Runtime;
using Actors.Runtime.Protocol;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Actors.Extensions.AI;

/// <summary>
/// An <see cref="IChatClient"/> over an <see cref="LlmRuntime"/>: messages are rendered by the model's chat
/// template, options map to the request (see <see cref="ChatOptionsMapper"/>), and the response carries
/// usage (with cached prompt tokens) and the finish reason. Streaming yields one update per token chunk,
/// then one with the finish reason and a <see cref="UsageContent"/>. Cancelling the token cancels the request.
/// </summary>
public sealed class LlmChatClient : IChatClient
{
    private readonly LlmRuntime _runtime;
    private readonly ChatPrompt _prompt;
    private readonly ChatClientMetadata _metadata;

    public LlmChatClient(LlmRuntime runtime, string? modelId = null)
    {
        _runtime = runtime;
        _prompt = ChatPrompt.ForRuntime(runtime);
        _metadata = new ChatClientMetadata("actors", null, modelId ?? Path.GetFileNameWithoutExtension(runtime.Model.Name));
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var created = DateTimeOffset.UtcNow;
        var result = await _runtime.GenerateAsync(request, cancellationToken).ConfigureAwait(false);
        var done = Check(result.Completed);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, result.Text) { MessageId = request.RequestId })
        {
            ResponseId = request.RequestId,
            ModelId = _metadata.DefaultModelId,
            CreatedAt = created,
            FinishReason = ChatOptionsMapper.ToFinishReason(done.Reason),
            Usage = ChatOptionsMapper.ToUsage(done.Usage),
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var request = Prepare(messages, options);
        var created = DateTimeOffset.UtcNow;
        var (chunks, completion) = _runtime.StreamWithCompletion(request, cancellationToken);
        await foreach (var chunk in chunks.ConfigureAwait(false))
        {
            if (chunk.Text.Length == 0) continue;
            yield return Update(request.RequestId, created, [new TextContent(chunk.Text)]);
        }
        var done = Check(await completion.ConfigureAwait(false));
        var last = Update(request.RequestId, created, [new UsageContent(ChatOptionsMapper.ToUsage(done.Usage))]);
        last.FinishReason = ChatOptionsMapper.ToFinishReason(done.Reason);
        yield return last;
    }

    private ChatResponseUpdate Update(string id, DateTimeOffset created, IList<AIContent> contents) => new(ChatRole.Assistant, contents)
    {
        ResponseId = id,
        MessageId = id,
        ModelId = _metadata.DefaultModelId,
        CreatedAt = created,
    };

    private Generate Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        return ChatOptionsMapper.ToGenerate("chat-" + Guid.NewGuid().ToString("N")[..24], _prompt.Tokenize(messages), options);
    }

    private static GenerationCompleted Check(GenerationCompleted done) => done.Reason switch
    {
        FinishReason.Error => throw new InvalidOperationException($"generation failed: {done.Error}"),
        FinishReason.Cancelled => throw new OperationCanceledException($"request {done.RequestId} was cancelled"),
        _ => done,
    };

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(ChatClientMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(LlmRuntime)) return _runtime;
        return null;
    }

    /// <summary>The runtime belongs to its actor system, not to this client: nothing to dispose.</summary>
    public void Dispose() { }
}
