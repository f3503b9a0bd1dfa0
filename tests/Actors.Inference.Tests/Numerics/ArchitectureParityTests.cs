using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Tests.Support;

namespace Actors.Inference.Tests.Numerics;

/// <summary>
/// Every supported architecture (llama, mistral, qwen2, qwen3, gemma2, gemma3, phi3) on two shapes:
/// the CPU backend against the float64 reference and against llama.cpp on the same file, F32 and a
/// mix quantized by llama.cpp's own quantizer; greedy continuations compared token for token.
/// </summary>
public sealed class ArchitectureParityTests(Xunit.Abstractions.ITestOutputHelper output)
{
    public static TheoryData<string, string> Cases() => Combine(ArchitectureModels.Architectures);

    public static TheoryData<string, string> LlamaCppCases() => Combine(ArchitectureModels.LlamaCppArchitectures);

    /// <summary>
    /// Every architecture and shape. (llama wide-head Q4_K_M was left out while attention was not
    /// llama.cpp's order: from token 122 on its logits sat 3e-3 from llama.cpp's and a near tie flipped.)
    /// </summary>
    public static TheoryData<string, string> QuantizedGreedyCases() => Combine(ArchitectureModels.LlamaCppArchitectures);

    private static TheoryData<string, string> Combine(string[] architectures)
    {
        var data = new TheoryData<string, string>();
        foreach (var arch in architectures)
            foreach (var shape in ArchitectureModels.Shapes) data.Add(arch, shape);
        return data;
    }

    /// <summary>
    /// F32 against llama.cpp: 1e-6, measured 0 (identical logits at all 40 positions, every architecture and
    /// shape): a prompt's F32 rows take tinyBLAS's order as llama.cpp's batch does (<see cref="BatchOrder"/>).
    /// Against the float64 reference: 1e-5 (our float32 rounding), gemma 5e-4: its GeGLU rounds the input to
    /// f16 for ggml's GELU table (whose every entry we reproduce, <c>GeluParityTests</c>), and an activation
    /// within an ulp of an f16 rounding boundary lands on the neighbouring f16 value (one step is
    /// 2⁻¹¹ ≈ 4.9e-4 of itself), moving the logits by up to 2.7e-4 (gemma3, 7 layers); llama.cpp is as far
    /// from the reference as we are. The same bound holds a token fed as its own batch (one-token orders)
    /// against the prompt batch.
    /// </summary>
    private static double F32Tolerance(string arch) => arch.StartsWith("gemma") ? 5e-4 : 1e-5;

    private static double F32LlamaCppTolerance(string arch) => 1e-6;

    /// <summary>
    /// Quantized tolerance 1e-6 (the issue asks 1e-4). Attention, RoPE, RMSNorm, SiLU, GELU and every
    /// kernel compute llama.cpp's bits, a prompt's Q4_K and Q2_K rows in its repacked gemm's order and its
    /// last P mod 4 tokens in its gemv's (<see cref="BatchOrder"/>). Measured over 40 positions: gemma2 and
    /// gemma3 Q4_K_M 0 (identical logits) on both shapes; llama, qwen2, qwen3 Q4_K_M and phi3 Q4_0 1.27e-7
    /// to 1.35e-7, from the F32 output head, which llama.cpp multiplies for a batch with tinyBLAS (one
    /// 16-lane FMA chain per output) and we in its one-token vec_dot order. (Before the batch orders:
    /// qwen2 gqa 3.7e-3, gemma2 gqa 1.4e-2, gemma3 2.8e-2 — one int8 step in a Q4_K matmul's input.)
    /// </summary>
    private const double QuantizedTolerance = 1e-6;

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cpu_logits_match_the_float64_reference_for_F32(string arch, string shape)
    {
        using var model = LlamaModel.Open(ArchitectureModels.F32Path(arch, shape));
        Assert.Equal(arch, model.Config.Architecture);
        var tokens = TestModels.RandomTokens(20, model.Config.VocabSize, 7);
        var reference = ReferenceForward.AllLogits(model, tokens);
        var logits = RunCpu(model, tokens);
        int v = model.Config.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
        {
            double err = TestModels.RelativeL2(logits.AsSpan(i * v, v), reference[i]);
            Assert.True(err <= F32Tolerance(arch), $"{arch} {shape} position {i}: relative L2 {err:E2} against the float64 reference");
        }
    }

    [Theory]
    [MemberData(nameof(LlamaCppCases))]
    public void Cpu_logits_match_llama_cpp_for_F32(string arch, string shape) =>
        AssertMatchesLlamaCpp(ArchitectureModels.F32Path(arch, shape), $"{arch} {shape} F32", F32LlamaCppTolerance(arch));

    [Theory]
    [MemberData(nameof(LlamaCppCases))]
    public void Cpu_logits_match_llama_cpp_for_a_llama_cpp_quantized_mix(string arch, string shape)
    {
        var mix = ArchitectureModels.QuantizedMix(arch);
        AssertMatchesLlamaCpp(ArchitectureModels.QuantizedPath(arch, shape, mix), $"{arch} {shape} {mix}", QuantizedTolerance);
    }

    [Theory]
    [MemberData(nameof(LlamaCppCases))]
    public void Greedy_continuation_of_32_tokens_is_identical_to_llama_cpp_for_F32(string arch, string shape) =>
        GreedyParity.AssertSameAsLlamaCpp(ArchitectureModels.F32Path(arch, shape));

    [Theory]
    [MemberData(nameof(QuantizedGreedyCases))]
    public void Greedy_continuation_of_32_tokens_is_identical_to_llama_cpp_for_the_quantized_mix(string arch, string shape) =>
        GreedyParity.AssertSameAsLlamaCpp(ArchitectureModels.QuantizedPath(arch, shape, ArchitectureModels.QuantizedMix(arch)));

    [Theory]
    [InlineData("gemma2")]
    [InlineData("gemma3")]
    [InlineData("qwen2")]
    public void A_prompt_fed_in_one_batch_in_chunks_or_token_by_token_gives_the_same_bits(string arch)
    {
        // Each piece names the whole prompt as its llama.cpp batch, as the runtime does for a chunked prefill.
        // Only the last token's logits are asked for, as in generation: one head row in every case.
        using var model = LlamaModel.Open(ArchitectureModels.F32Path(arch, "gqa"));
        var tokens = TestModels.RandomTokens(21, model.Config.VocabSize, 3);
        using var device = new CpuDevice(threads: 2);
        var whole = PromptPieces.LastLogits(device, model, tokens, (0, tokens.Length));
        Assert.True(whole.AsSpan().SequenceEqual(PromptPieces.LastLogits(device, model, tokens, (0, 5), (5, 1), (6, 10), (16, 5))), $"{arch}: chunked prefill differs from one batch");
        Assert.True(whole.AsSpan().SequenceEqual(PromptPieces.LastLogits(device, model, tokens, PromptPieces.TokenByToken(tokens.Length))), $"{arch}: token by token differs from one batch");
        // Fed as their own batches, tokens take llama.cpp's one-token orders: last bits may differ, never more.
        using var alone = new SequenceRunner(device, model, contextLength: 64);
        float[] own = [];
        for (int i = 0; i < tokens.Length; i++) own = alone.Feed(tokens.AsSpan(i, 1), allLogits: false);
        Assert.True(TestModels.RelativeL2(own, whole) <= F32Tolerance(arch), $"{arch}: one-token orders far from the batch's");
    }

    [Theory]
    [InlineData("gemma3", 3)]
    [InlineData("gemma2", 1)]
    [InlineData("phi3", 1)]
    public void A_two_stage_pipeline_split_inside_the_layer_pattern_equals_one_stage_bit_for_bit(string arch, int split)
    {
        using var model = LlamaModel.Open(ArchitectureModels.F32Path(arch, "gqa"));
        var tokens = TestModels.RandomTokens(20, model.Config.VocabSize, 4);
        using var device = new CpuDevice(threads: 2);
        using var whole = new SequenceRunner(device, model, contextLength: 64);
        using var split2 = new SequenceRunner([(device, new LayerRange(0, split)), (device, new LayerRange(split, model.Config.BlockCount))], model, contextLength: 64);
        Assert.True(whole.Feed(tokens, allLogits: true).AsSpan().SequenceEqual(split2.Feed(tokens, allLogits: true)),
            $"{arch}: stages 0-{split - 1} and {split}-{model.Config.BlockCount - 1} differ from one stage");
    }

    private static float[] RunCpu(LlamaModel model, int[] tokens)
    {
        using var device = new CpuDevice(threads: 2);
        using var runner = new SequenceRunner(device, model, contextLength: 64);
        return runner.Feed(tokens, allLogits: true);
    }

    private void AssertMatchesLlamaCpp(string path, string what, double tolerance)
    {
        using var model = LlamaModel.Open(path);
        var tokens = TestModels.RandomTokens(40, model.Config.VocabSize, 99);
        using var cpp = new LlamaCpp(path);
        var expected = cpp.AllLogits(tokens);
        var logits = RunCpu(model, tokens);
        int v = model.Config.VocabSize;
        double worst = 0;
        int worstAt = -1;
        for (int i = 0; i < tokens.Length; i++)
        {
            double e = TestModels.RelativeL2(logits.AsSpan(i * v, v), expected[i]);
            if (e > worst) { worst = e; worstAt = i; }
        }
        output.WriteLine($"{what}: worst relative L2 {worst:E2} at position {worstAt} of {tokens.Length} (bound {tolerance:E0})");
        Assert.True(worst <= tolerance, $"{what}: relative L2 {worst:E2} at position {worstAt} > {tolerance:E0}");
    }
}
