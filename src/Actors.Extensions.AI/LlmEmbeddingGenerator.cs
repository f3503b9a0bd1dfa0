using Microsoft.Extensions.AI;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Extensions.AI;

/// <summary>
/// An <see cref="IEmbeddingGenerator{TInput, TEmbedding}"/> over an <see cref="LlmRuntime"/>: each string's
/// final-norm hidden states pooled (mean by default, or the last token's) and L2-normalized, all values of
/// one call batched through the scheduler (<see cref="LlmRuntime.EmbedAsync(IReadOnlyList{string}, EmbeddingPooling, CancellationToken)"/>).
/// <see cref="EmbeddingGenerationOptions.Dimensions"/> other than the model's hidden size is refused.
/// </summary>
public sealed class LlmEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    private readonly LlmRuntime _runtime;
    private readonly EmbeddingPooling _pooling;
    private readonly EmbeddingGeneratorMetadata _metadata;

    public LlmEmbeddingGenerator(LlmRuntime runtime, string? modelId = null, EmbeddingPooling pooling = EmbeddingPooling.Mean)
    {
        _runtime = runtime;
        _pooling = pooling;
        _metadata = new EmbeddingGeneratorMetadata("actors", null, modelId ?? Path.GetFileNameWithoutExtension(runtime.Model.Name), runtime.EmbeddingDimensions);
    }

    public async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options?.Dimensions is { } dimensions && dimensions != _runtime.EmbeddingDimensions)
            throw new ArgumentException($"Dimensions = {dimensions} is not supported: this model's embeddings have {_runtime.EmbeddingDimensions} dimensions", nameof(options));
        var inputs = values.ToList();
        var created = DateTimeOffset.UtcNow;
        var results = await _runtime.EmbedAsync(inputs, _pooling, cancellationToken).ConfigureAwait(false);
        long tokens = results.Sum(r => (long)r.PromptTokens);
        string? model = options?.ModelId ?? _metadata.DefaultModelId;
        return new GeneratedEmbeddings<Embedding<float>>(results.Select(r => new Embedding<float>(r.Vector) { CreatedAt = created, ModelId = model }))
        {
            Usage = new UsageDetails { InputTokenCount = tokens, TotalTokenCount = tokens },
        };
    }

    public object? GetService(Type serviceType, object? serviceKey = null)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        if (serviceKey is not null) return null;
        if (serviceType == typeof(EmbeddingGeneratorMetadata)) return _metadata;
        if (serviceType.IsInstanceOfType(this)) return this;
        if (serviceType == typeof(LlmRuntime)) return _runtime;
        return null;
    }

    /// <summary>The runtime belongs to its actor system, not to this generator: nothing to dispose.</summary>
    public void Dispose() { }
}
