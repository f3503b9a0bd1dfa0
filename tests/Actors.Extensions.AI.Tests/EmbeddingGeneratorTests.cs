using Akka.Hosting;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Actors.Runtime;
using Actors.Runtime.Hosting;
using Actors.Runtime.Protocol;

namespace Actors.Extensions.AI.Tests;

/// <summary>
/// IEmbeddingGenerator over the runtime, in the shape of Microsoft.Extensions.AI's own embedding-generator
/// integration tests (one value, several values, usage, metadata, GetService), checked against the
/// runtime's embeddings.
/// </summary>
public sealed class EmbeddingGeneratorTests(SmallRuntime fixture) : IClassFixture<SmallRuntime>
{
    private readonly IEmbeddingGenerator<string, Embedding<float>> _generator = fixture.Runtime.AsEmbeddingGenerator("tiny");

    [Fact]
    public async Task GenerateAsync_creates_one_unit_embedding_equal_to_the_runtimes()
    {
        var embedding = await _generator.GenerateAsync("Using AI with .NET");
        var expected = (await fixture.Runtime.EmbedAsync(["Using AI with .NET"]))[0];
        Assert.Equal(expected.Vector, embedding.Vector.ToArray());
        Assert.Equal("tiny", embedding.ModelId);
        Assert.NotNull(embedding.CreatedAt);
        Assert.Equal(1.0, Math.Sqrt(embedding.Vector.ToArray().Sum(x => (double)x * x)), 5);
        Assert.Equal(expected.Vector, (await _generator.GenerateVectorAsync("Using AI with .NET")).ToArray());
    }

    [Fact]
    public async Task GenerateAsync_creates_embeddings_in_input_order_with_usage()
    {
        string[] values = ["Red, white, and blue", "Come and see", "Red, white, and blue, and more besides"];
        var embeddings = await _generator.GenerateAsync(values);
        var expected = await fixture.Runtime.EmbedAsync(values);
        Assert.Equal(3, embeddings.Count);
        for (int i = 0; i < 3; i++) Assert.Equal(expected[i].Vector, embeddings[i].Vector.ToArray());
        Assert.NotNull(embeddings.Usage);
        Assert.Equal(expected.Sum(e => e.PromptTokens), embeddings.Usage.InputTokenCount);
        Assert.Equal(embeddings.Usage.InputTokenCount, embeddings.Usage.TotalTokenCount);
        Assert.NotEqual(embeddings[0].Vector.ToArray(), embeddings[1].Vector.ToArray());
    }

    [Fact]
    public async Task Last_token_pooling_is_selectable_and_differs_from_the_mean()
    {
        var last = fixture.Runtime.AsEmbeddingGenerator(pooling: EmbeddingPooling.Last);
        var text = "pooling over every token or the last one";
        var expected = (await fixture.Runtime.EmbedAsync([text], EmbeddingPooling.Last))[0];
        Assert.Equal(expected.Vector, (await last.GenerateAsync(text)).Vector.ToArray());
        Assert.NotEqual(expected.Vector, (await _generator.GenerateAsync(text)).Vector.ToArray());
    }

    [Fact]
    public async Task Other_dimensions_are_refused_naming_the_models_size()
    {
        int size = fixture.Runtime.EmbeddingDimensions;
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => _generator.GenerateAsync(["hi"], new EmbeddingGenerationOptions { Dimensions = size / 2 }));
        Assert.Contains($"{size} dimensions", ex.Message);
        Assert.Single(await _generator.GenerateAsync(["hi"], new EmbeddingGenerationOptions { Dimensions = size }));
    }

    [Fact]
    public void Metadata_and_services_describe_the_model()
    {
        var metadata = _generator.GetService<EmbeddingGeneratorMetadata>()!;
        Assert.Equal("actors", metadata.ProviderName);
        Assert.Equal("tiny", metadata.DefaultModelId);
        Assert.Equal(fixture.Runtime.EmbeddingDimensions, metadata.DefaultModelDimensions);
        Assert.Same(fixture.Runtime, _generator.GetService<LlmRuntime>());
        Assert.Same(_generator, _generator.GetService<LlmEmbeddingGenerator>());
        Assert.Null(_generator.GetService<EmbeddingGeneratorMetadata>("some key"));
    }

    [Fact]
    public async Task A_cancelled_call_throws_and_cancels_its_inputs()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _generator.GenerateAsync(["one", "two"], cancellationToken: cancel.Token));
        Assert.Single(await _generator.GenerateAsync(["still serving"]));
    }
}

/// <summary>The hosting path: Akka.Hosting starts the runtime, the DI container hands out the embedding generator.</summary>
public sealed class EmbeddingGeneratorHostingTests
{
    [Fact]
    public async Task AddLlmEmbeddingGenerator_registers_an_IEmbeddingGenerator_over_the_hosted_runtime()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddAkka("meai-embed-hosted", b => b
            .AddHocon(SmallRuntime.Hocon, HoconAddMode.Prepend)
            .WithLlmRuntime());
        builder.Services.AddLlmEmbeddingGenerator("hosted");
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var generator = host.Services.GetRequiredService<IEmbeddingGenerator<string, Embedding<float>>>();
            var embedding = await generator.GenerateAsync("Hi");
            Assert.Equal("hosted", embedding.ModelId);
            Assert.Equal(64, embedding.Vector.Length);
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
