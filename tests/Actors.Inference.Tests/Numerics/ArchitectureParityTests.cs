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
public sealed class ArchitectureParityTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var arch in ArchitectureModels.Architectures)
            foreach (var shape in ArchitectureModels.Shapes) data.Add(arch, shape);
        return data;
    }

    /// <summary>
    /// Quantized tolerance: llama.cpp quantizes matmul inputs to Q8_K / Q8_0 blocks; where our rounding
    /// is not yet ggml-exact (Q8_0 activations, issue 11 part 1) the gap is that rounding, as in
    /// <see cref="LlamaCppParityTests"/>; Q4_K_M (Q8_K activations) is held to 1e-4.
    /// </summary>
    private static double QuantizedTolerance(string arch) => arch == "phi3" ? 2e-2 : 1e-4;

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
            Assert.True(err <= 1e-5, $"{arch} {shape} position {i}: relative L2 {err:E2} against the float64 reference");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cpu_logits_match_llama_cpp_for_F32(string arch, string shape) =>
        AssertMatchesLlamaCpp(ArchitectureModels.F32Path(arch, shape), $"{arch} {shape} F32", 1e-5);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Cpu_logits_match_llama_cpp_for_a_llama_cpp_quantized_mix(string arch, string shape)
    {
        var mix = ArchitectureModels.QuantizedMix(arch);
        AssertMatchesLlamaCpp(ArchitectureModels.QuantizedPath(arch, shape, mix), $"{arch} {shape} {mix}", QuantizedTolerance(arch));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_continuation_of_32_tokens_is_identical_to_llama_cpp_for_F32(string arch, string shape) =>
        AssertSameGreedy(ArchitectureModels.F32Path(arch, shape));

    [Theory]
    [MemberData(nameof(Cases))]
    public void Greedy_continuation_of_32_tokens_is_identical_to_llama_cpp_for_the_quantized_mix(string arch, string shape) =>
        AssertSameGreedy(ArchitectureModels.QuantizedPath(arch, shape, ArchitectureModels.QuantizedMix(arch)));

    [Theory]
    [InlineData("gemma2")]
    [InlineData("gemma3")]
    [InlineData("qwen2")]
    public void Prefill_in_one_batch_equals_token_by_token_decode_bit_for_bit(string arch)
    {
        using var model = LlamaModel.Open(ArchitectureModels.F32Path(arch, "gqa"));
        var tokens = TestModels.RandomTokens(21, model.Config.VocabSize, 3);
        using var device = new CpuDevice(threads: 2);
        using var batched = new SequenceRunner(device, model, contextLength: 64);
        var all = batched.Feed(tokens, allLogits: true);
        using var single = new SequenceRunner(device, model, contextLength: 64);
        int v = model.Config.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
        {
            var one = single.Feed(tokens.AsSpan(i, 1), allLogits: false);
            Assert.True(one.AsSpan().SequenceEqual(all.AsSpan(i * v, v)), $"{arch} position {i} differs between batched and one-at-a-time");
        }
    }

    private static float[] RunCpu(LlamaModel model, int[] tokens)
    {
        using var device = new CpuDevice(threads: 2);
        using var runner = new SequenceRunner(device, model, contextLength: 64);
        return runner.Feed(tokens, allLogits: true);
    }

    private static void AssertMatchesLlamaCpp(string path, string what, double tolerance)
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
        Assert.True(worst <= tolerance, $"{what}: relative L2 {worst:E2} at position {worstAt} > {tolerance:E0}");
    }

    private static void AssertSameGreedy(string path)
    {
        using var model = LlamaModel.Open(path);
        var prompt = TestModels.RandomTokens(8, model.Config.VocabSize, 5);
        using var cpp = new LlamaCpp(path);
        var expected = cpp.Greedy(prompt, 32);
        using var device = new CpuDevice(threads: 2);
        using var runner = new SequenceRunner(device, model, contextLength: 64);
        var logits = runner.Feed(prompt, allLogits: false);
        var ours = new int[32];
        for (int n = 0; n < 32; n++)
        {
            ours[n] = ArgMax(logits);
            logits = runner.Feed([ours[n]], allLogits: false);
        }
        Assert.Equal(expected, ours);
    }

    private static int ArgMax(ReadOnlySpan<float> x)
    {
        int best = 0;
        for (int i = 1; i < x.Length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
