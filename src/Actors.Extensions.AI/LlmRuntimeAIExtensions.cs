using Akka.Actor;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Extensions.AI;

public static class LlmRuntimeAIExtensions
{
    /// <summary>The runtime as a Microsoft.Extensions.AI chat client; <paramref name="modelId"/> defaults to the model file's name.</summary>
    public static IChatClient AsChatClient(this LlmRuntime runtime, string? modelId = null) => new LlmChatClient(runtime, modelId);

    /// <summary>The runtime as a Microsoft.Extensions.AI embedding generator (pooled, L2-normalized final hidden states).</summary>
    public static IEmbeddingGenerator<string, Embedding<float>> AsEmbeddingGenerator(this LlmRuntime runtime, string? modelId = null,
        EmbeddingPooling pooling = EmbeddingPooling.Mean) => new LlmEmbeddingGenerator(runtime, modelId, pooling);

    /// <summary>
    /// Registers <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over the runtime of the ActorSystem that Akka.Hosting
    /// registers, as <see cref="AddLlmChatClient"/> does for chat.
    /// </summary>
    public static IServiceCollection AddLlmEmbeddingGenerator(this IServiceCollection services, string? modelId = null, EmbeddingPooling pooling = EmbeddingPooling.Mean) =>
        services.AddSingleton<IEmbeddingGenerator<string, Embedding<float>>>(sp => LlmRuntime.Get(sp.GetRequiredService<ActorSystem>()).AsEmbeddingGenerator(modelId, pooling));

    /// <summary>
    /// Registers <see cref="IChatClient"/> over the runtime of the ActorSystem that Akka.Hosting registers
    /// (<c>services.AddAkka("llm", b => b.WithLlmRuntime(...)).AddLlmChatClient()</c>).
    /// </summary>
    public static IServiceCollection AddLlmChatClient(this IServiceCollection services, string? modelId = null) =>
        services.AddSingleton<IChatClient>(sp => LlmRuntime.Get(sp.GetRequiredService<ActorSystem>()).AsChatClient(modelId));
}
