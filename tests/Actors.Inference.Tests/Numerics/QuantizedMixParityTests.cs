using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Tests.Support;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.Numerics;

/// <summary>
/// Files made by llama.cpp's quantizer, in every mix it writes, against llama.cpp's own logits on the
/// same file. On the AVX-512 kernel path the engine computes what llama.cpp's AVX-512 CPU build
/// computes bit for bit on a single token: activations quantized by ggml's rules (Q8_0 / Q8_1 / Q8_K),
/// RMSNorm's f32 squares, SiLU on ggml's exp polynomial, and every kernel summing in llama.cpp's float
/// order (its repacked gemv for Q4_0, IQ4_NL, Q4_K, Q2_K; its AVX2 vec_dot for Q4_1, Q5_1, Q3_K, Q5_K,
/// Q6_K, IQ4_XS; tinyBLAS's 8 lanes for Q5_0 and Q8_0). Measured: relative L2 0 (identical logits) at
/// every single token of every file on both shapes, except Q8_0 through the repacked int8 tile that is
/// on by default (9.8e-8; 0 with ACTORS_CPU_REPACK=0); the bound is 1e-6 at every one.
/// </summary>
/// <remarks>
/// Prefill (16 tokens at once): attention runs llama.cpp's float order for a prompt batch
/// (<see cref="Actors.Inference.Cpu.Ops.PagedAttention"/>) and RoPE its fused multiply-adds, so mixes
/// whose kernels sum a batch as llama.cpp does are exact at every position: Q3_K_S, Q3_K_L, Q5_K_S,
/// Q5_K_M, Q6_K, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS (measured 0 at all 16 positions on both shapes),
/// held to 1e-6. The others (Q2_K, Q3_K_M, Q4_K_S, Q4_K_M, Q8_0) stay at 2e-2: llama.cpp multiplies a
/// batch of Q4_K rows with its repacked 8×8 gemm, four tokens at a time, in another order than one
/// token's gemv, which we match to stay batch-invariant (measured 0 at most positions, 2e-7 to 4e-7 at
/// scattered ones, position 0 included, so not attention), and our repacked Q8_0 tile (on by default)
/// sums in another order than llama.cpp (singles 9.8e-8; with ACTORS_CPU_REPACK=0 prefill and singles
/// are 0). A last-bit difference there can move an activation across an int8
/// rounding midpoint; one such step in a 256-wide block moves that matmul's output by about
/// (amax/127)/‖x‖ ≈ 1e-3 relative and the logits by up to 1.1e-2 (measured before this work: 8 of 32
/// pairs). A wrong kernel, scale or rounding rule shows at every single token instead. On the AVX2 and
/// Portable paths (other float orders) the single tokens and the prefill are held to 2e-2, three
/// quarters of the single tokens within 1e-6.
/// </remarks>
public sealed class QuantizedMixParityTests(ITestOutputHelper output)
{
    /// <summary>GQA with head size 32, and GQA with head size 96 (not a power of two).</summary>
    public static readonly string[] Shapes = ["gqa", "odd-head-size"];

    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var shape in Shapes)
            foreach (var mix in QuantizedModels.Mixes) data.Add(shape, mix);
        return data;
    }

    private const int SingleTokens = 32, PrefillLength = 16;
    private const double Exact = 1e-6, OneStep = 2e-2;

    /// <summary>Mixes whose every kernel sums a batch in llama.cpp's batch order (the rest: see the remarks).</summary>
    private static readonly string[] ExactPrefillMixes = ["Q3_K_S", "Q3_K_L", "Q5_K_S", "Q5_K_M", "Q6_K", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "IQ4_NL", "IQ4_XS"];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Logits_match_llama_cpp_on_files_from_its_quantizer(string shape, string mix)
    {
        string path = QuantizedModels.Path(shape, mix);
        string types = string.Join(",", QuantizedModels.TypesIn(path));
        using var model = LlamaModel.Open(path);
        using var cpp = new LlamaCpp(path);
        using var device = new CpuDevice(threads: 2);
        int v = model.Config.VocabSize;

        var singles = TestModels.RandomTokens(SingleTokens, v, 99);
        var errors = new double[SingleTokens];
        for (int i = 0; i < SingleTokens; i++)
        {
            var expected = cpp.AllLogits([singles[i]]);
            using var runner = new SequenceRunner(device, model, contextLength: 4);
            errors[i] = TestModels.RelativeL2(runner.Feed([singles[i]], allLogits: true), expected[0]);
        }
        int exact = errors.Count(e => e <= Exact);

        var prompt = TestModels.RandomTokens(PrefillLength, v, 7);
        var expectedPrompt = cpp.AllLogits(prompt);
        using var promptRunner = new SequenceRunner(device, model, contextLength: 32);
        var logits = promptRunner.Feed(prompt, allLogits: true);
        double prefillWorst = Enumerable.Range(0, PrefillLength).Max(i => TestModels.RelativeL2(logits.AsSpan(i * v, v), expectedPrompt[i]));

        string summary = $"{shape} {mix} [{types}]: {exact}/{SingleTokens} single tokens within {Exact:E0} (worst {errors.Max():E2}); prefill worst {prefillWorst:E2}";
        output.WriteLine(summary);
        // Other kernel paths (AVX2, Portable) keep their own float order: an int8 step can show there.
        bool exactPath = Actors.Inference.Cpu.Kernels.KernelDispatch.Best == Actors.Inference.Cpu.Kernels.KernelPath.Avx512;
        bool singlesOk = exactPath ? exact == SingleTokens : exact >= SingleTokens * 3 / 4 && errors.Max() <= OneStep;
        double prefillBound = exactPath && ExactPrefillMixes.Contains(mix) ? Exact : OneStep;
        Assert.True(singlesOk && prefillWorst <= prefillBound, $"{summary} (prefill bound {prefillBound:E0})");
    }
}
