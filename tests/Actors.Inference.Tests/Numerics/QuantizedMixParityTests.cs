using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Tests.Support;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.Numerics;

/// <summary>
/// Files made by llama.cpp's quantizer, in every mix it writes, against llama.cpp's own logits on the
/// same file. Both engines multiply the same blocks with activations quantized by the same rules
/// (ggml's Q8_0 / Q8_1 / Q8_K: same scales, same rounding), so the logits agree to f32 rounding:
/// 1e-7 to 4e-7 relative L2 on every type and mix, measured.
/// </summary>
/// <remarks>
/// Except where one activation sits within an ulp of a rounding midpoint. The engines' f32 arithmetic
/// before a matmul (attention, SiLU, sums in other orders) differs in the last bit, so such a value
/// rounds to neighbouring int8 values in the two engines. One step of one int8 in a 256-wide block of
/// these small models moves that matmul's output by about (amax/127)/‖x‖ ≈ 1e-3 relative, which is what
/// the logits then show: 1e-4 to 1.1e-2 at that position, and at every later position when the value
/// went into K or V (measured on 40-token sequences: 13 of 32 file/shape pairs had such a step, all
/// positions before it agreeing to 3e-7; which values step changes with the kernel path, the exact
/// integer portable path included). A wrong kernel, scale or rounding rule instead shows at every
/// position. So the test feeds single tokens (each its own sequence, so a step cannot spread) and
/// requires three quarters of them within 1e-5, every one within 2e-2 (one int8 step), and a
/// 16-token prefill within 2e-2 at every position.
///
/// Where the last-bit differences come from (measured with RMSNorm and SiLU already computing ggml's
/// exact bits): the float accumulation order of the matmul kernels. llama.cpp's AVX-512 build repacks
/// Q4_0 / IQ4_NL / Q4_K / Q5_K / Q6_K (Q2_K) weights and its gemv sums, per output, one FMA per block in
/// block order (acc = fma(f32(Σ int), d_w·d_x, acc)); other types go through vec_dot or tinyBLAS with
/// their own 8-lane orders. Our Portable Q4_0 path sums in exactly that order, and with it the Q4_0
/// files had no flipped single token on either shape (0 of 64), against 5 of 64 on the AVX-512 path,
/// whose offset trick and split accumulators round differently; over all 32 files the Portable path
/// flipped 8 single tokens, AVX-512 13. Matching it on the fast paths is kernel work (the tiled GEMM).
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
    private const double Exact = 1e-5, OneStep = 2e-2;

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
        Assert.True(exact >= SingleTokens * 3 / 4 && errors.Max() <= OneStep && prefillWorst <= OneStep, summary);
    }
}
