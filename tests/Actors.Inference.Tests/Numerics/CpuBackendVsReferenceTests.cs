using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.Numerics;

/// <summary>The CPU backend against the naive double-precision forward pass on generated models.</summary>
public sealed class CpuBackendVsReferenceTests
{
    public static TheoryData<string> Shapes() => new(TestModels.Shapes);

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Cpu_logits_match_the_double_precision_reference_for_F32_models(string shape)
    {
        using var model = LlamaModel.Open(TestModels.Path_(TestModels.Shape(shape, "F32")));
        var tokens = TestModels.RandomTokens(24, model.Config.VocabSize, 7);
        var reference = ReferenceForward.AllLogits(model, tokens);
        using var device = new CpuDevice(threads: 2);
        using var runner = new SequenceRunner(device, model, contextLength: 64);
        var logits = runner.Feed(tokens, allLogits: true);
        int v = model.Config.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
        {
            double err = TestModels.RelativeL2(logits.AsSpan(i * v, v), reference[i]);
            Assert.True(err < 1e-5, $"position {i}: relative L2 {err:E2}");
        }
    }

    [Theory]
    [InlineData("gqa", "F32")]
    [InlineData("odd-head-size", "Q4_K_M")]
    [InlineData("mqa", "Q8_0")]
    public void A_prompt_in_one_batch_in_chunks_or_token_by_token_gives_the_same_bits(string shape, string type)
    {
        // Every piece names the whole prompt as its llama.cpp batch (BatchOrder), as the runtime does for a
        // chunked prefill; the last token's logits (one head row, as in generation) carry every position's K/V.
        using var model = LlamaModel.Open(TestModels.Path_(TestModels.Shape(shape, type)));
        var tokens = TestModels.RandomTokens(21, model.Config.VocabSize, 3);
        using var device = new CpuDevice(threads: 2);
        var whole = PromptPieces.LastLogits(device, model, tokens, (0, tokens.Length));
        Assert.True(whole.AsSpan().SequenceEqual(PromptPieces.LastLogits(device, model, tokens, (0, 3), (3, 1), (4, 9), (13, 8))), "chunked prefill differs from one batch");
        Assert.True(whole.AsSpan().SequenceEqual(PromptPieces.LastLogits(device, model, tokens, PromptPieces.TokenByToken(tokens.Length))), "token by token differs from one batch");
    }
}
