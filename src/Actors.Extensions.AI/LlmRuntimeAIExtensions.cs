using Akka.Actor;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Actors.Runtime;

namespace Actors.Extensions.AI;

public static class LlmRuntimeAIExtensions
{
    /// <summary>The runtime as a Microsoft.Extensions.AI chat client; <paramref name="modelId"/> defaults to the model file's name.</summary>
    public static IChatClient AsChatClient(this LlmRuntime runtime, string? modelId = null) => new LlmChatClient(runtime, modelId);

    /// <summary>
    /// Registers <see cref="IChatClient"/> over the runtime of the ActorSystem that Akka.Hosting registers
    /// (<c>services.AddAkka("llm", b => b.WithLlmRuntime(...)).AddLlmChatClient()</c>).
    /// </summary>
    public static IServiceCollection AddLlmChatClient(this IServiceCollection services, string? modelId = null) =>
        services.AddSingleton<IChatClient>(sp => LlmRuntime.Get(sp.GetRequiredService<ActorSystem>()).AsChatClient(modelId));
}
