using Akka.TestKit.Xunit2;
using Actors.Inference.Synthetic;
using Actors.Inference.Tests.Support;
using Actors.Runtime.Protocol;
using LLama.Native;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// Embeddings through the runtime (batched, chunked prefill, never from the prefix cache) agree with
/// llama.cpp's pooled embeddings (through LLamaSharp) on the same generated GGUF.
/// </summary>
public sealed class EmbeddingTests(ITestOutputHelper output) : TestKit(output: output)
{
    private static int[][] Prompts(ulong seed, params int[] lengths)
    {
        var rng = new DeterministicRandom(seed);
        return lengths.Select(n => new[] { 1 }.Concat(Enumerable.Range(0, n - 1).Select(_ => 3 + rng.NextInt(300))).ToArray()).ToArray();
    }

    private static float[] Normalized(float[] v)
    {
        double norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return v.Select(x => (float)(x / norm)).ToArray();
    }

    private void AssertClose(float[] expected, float[] actual, string label)
    {
        Assert.Equal(expected.Length, actual.Length);
        double dot = 0, maxDiff = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            dot += (double)expected[i] * actual[i];
            maxDiff = Math.Max(maxDiff, Math.Abs(expected[i] - actual[i]));
        }
        Output?.WriteLine($"{label}: cosine {dot:F7}, max |diff| {maxDiff:E2}");
        Assert.True(dot > 0.999999, $"{label}: cosine similarity {dot} to llama.cpp's embedding");
        Assert.True(maxDiff < 1e-5, $"{label}: largest difference {maxDiff} from llama.cpp's embedding");
    }

    [Theory]
    [InlineData(EmbeddingPooling.Mean, LLamaPoolingType.Mean)]
    [InlineData(EmbeddingPooling.Last, LLamaPoolingType.Last)]
    public async Task Batched_chunked_embeddings_equal_llama_cpps_pooled_embeddings(EmbeddingPooling pooling, LLamaPoolingType reference)
    {
        // 24 tokens per step: the longer prompts are prefilled over several steps, beside each other.
        using var h = new RuntimeHarness(RuntimeFixture.Config("actors-runtime.scheduler { max-batched-tokens = 24, max-running-sequences = 8, prefix-caching = on }"), name: "embed");
        var prompts = Prompts(5, 7, 40, 16, 61, 2);
        var results = await h.Runtime.EmbedAsync(prompts, pooling);

        using var llama = new LlamaCpp(RuntimeFixture.ModelPath(), contextSize: 128, pooling: reference);
        for (int i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(h.Runtime.EmbeddingDimensions, results[i].Vector.Length);
            Assert.Equal(prompts[i].Length, results[i].PromptTokens);
            Assert.Equal(1.0, Math.Sqrt(results[i].Vector.Sum(x => (double)x * x)), 5);
            AssertClose(Normalized(llama.PooledEmbedding(prompts[i])), results[i].Vector, $"{pooling} prompt {i} ({prompts[i].Length} tokens)");
        }

        // Again: the prompts' full blocks are in the prefix cache now, yet every token is computed and pooled.
        var again = await h.Runtime.EmbedAsync(prompts, pooling);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(results[i].Vector, again[i].Vector);
        h.AwaitAllBlocksFree(this);
    }

    [Fact]
    public async Task Text_inputs_are_tokenized_as_prompts_and_generation_beside_them_is_unchanged()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config(), name: "embed-text");
        var prompt = Prompts(9, 20)[0];
        var alone = await h.Runtime.GenerateAsync(new Generate { RequestId = "alone", PromptTokens = prompt, MaxTokens = 6, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
        var beside = h.Runtime.GenerateAsync(new Generate { RequestId = "beside", PromptTokens = prompt, MaxTokens = 6, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
        var texts = await h.Runtime.EmbedAsync(["hello world", "a longer sentence to embed, with punctuation"]);
        var tokens = await h.Runtime.EmbedAsync([h.Runtime.Tokenizer.Encode("hello world", true, false)]);
        Assert.Equal(tokens[0].Vector, texts[0].Vector);
        Assert.NotEqual(texts[0].Vector, texts[1].Vector);
        Assert.Equal(alone.TokenIds, (await beside).TokenIds);
    }

    /// <summary>A CPU device that, like the CUDA and simulated backends today, does not say it returns hidden states.</summary>
    private sealed class NoHiddenStatesDevice(string id) : DelegatingDevice(id);

    [Fact]
    public async Task Embeddings_on_a_backend_without_hidden_states_are_rejected_and_generation_goes_on()
    {
        var setup = new RuntimeSetup { DeviceFactories = new Dictionary<Actors.Inference.Compute.DeviceKind, DeviceFactory> { [Actors.Inference.Compute.DeviceKind.Cpu] = o => new NoHiddenStatesDevice(o.Id) } };
        using var h = new RuntimeHarness(RuntimeFixture.Config(), setup, name: "embed-none");
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() => h.Runtime.EmbedAsync(["hello"]));
        Assert.Equal(RejectionReason.InvalidParameters, ex.Rejected.Reason);
        Assert.Contains("returns no hidden states", ex.Message);
        var generated = await h.Runtime.GenerateAsync(new Generate { RequestId = "g", PromptTokens = [1, 5, 9], MaxTokens = 3, Sampling = SamplingOptions.Greedy with { IgnoreEos = true } });
        Assert.Equal(3, generated.TokenIds.Count);
    }

    [Fact]
    public async Task An_input_with_a_token_outside_the_vocabulary_is_rejected_naming_it()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config(), name: "embed-bad");
        var ex = await Assert.ThrowsAsync<GenerationRejectedException>(() => h.Runtime.EmbedAsync([new[] { 1, 5 }, new[] { 1, 100_000 }]));
        Assert.Contains("100000", ex.Message);
    }
}
