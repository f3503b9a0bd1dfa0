using Actors.Inference.Cpu;
using Actors.Inference.Cpu.Kernels;
using Actors.Inference.Cpu.Ops;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Inference.Tests.Support;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.Numerics;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ForcedKernelPath
{
    /// <summary>Tests that switch the process-wide kernel path run alone, so no other test computes on a forced path.</summary>
    public const string Name = "forced kernel path";
}

/// <summary>
/// The fallback kernel paths (AVX2, Portable) forced on a CPU that has AVX-512, against llama.cpp's
/// AVX-512 logits on files from its quantizer. They keep their own float orders (eight- and
/// four-lane reduction trees), so they are held to the per-ISA tolerance the docs state: three
/// quarters of the single tokens within 1e-6, every single token and prefill position within 2e-2.
/// Attention and the element-wise ops are ISA-independent (the same IEEE operations on every path;
/// <c>AttentionParityTests</c> checks attention's scalar form bit for bit), so what differs is only the
/// matmuls' order. A path that computed something wrong (a scale, a rounding rule) would show at
/// every token far above that.
/// </summary>
[Collection(ForcedKernelPath.Name)]
public sealed class ForcedKernelPathTests(ITestOutputHelper output)
{
    public static TheoryData<KernelPath, string> Cases() => new()
    {
        { KernelPath.Avx2, "Q4_K_M" }, { KernelPath.Avx2, "Q4_0" }, { KernelPath.Avx2, "Q8_0" },
        { KernelPath.Portable, "Q4_K_M" }, { KernelPath.Portable, "Q5_0" },
    };

    private const int SingleTokens = 16, PrefillLength = 16;
    private const double Exact = 1e-6, PerIsa = 2e-2;

    [Theory]
    [MemberData(nameof(Cases))]
    public void A_forced_fallback_path_stays_within_its_documented_tolerance_of_llama_cpp(KernelPath path, string mix)
    {
        if (!KernelDispatch.IsSupported(path)) return; // nothing to force on a CPU without it
        string file = QuantizedModels.Path("gqa", mix);
        var saved = (KernelDispatch.Default, GgmlSums.UseVector512);
        KernelDispatch.Default = path;
        GgmlSums.UseVector512 = path == KernelPath.Avx512;
        try
        {
            using var model = LlamaModel.Open(file);
            using var cpp = new LlamaCpp(file);
            using var device = new CpuDevice(threads: 2);
            int v = model.Config.VocabSize;
            var singles = TestModels.RandomTokens(SingleTokens, v, 99);
            var errors = new double[SingleTokens];
            for (int i = 0; i < SingleTokens; i++)
            {
                using var runner = new SequenceRunner(device, model, contextLength: 4);
                errors[i] = TestModels.RelativeL2(runner.Feed([singles[i]], allLogits: true), cpp.AllLogits([singles[i]])[0]);
            }
            var prompt = TestModels.RandomTokens(PrefillLength, v, 7);
            var expected = cpp.AllLogits(prompt);
            using var promptRunner = new SequenceRunner(device, model, contextLength: 32);
            var logits = promptRunner.Feed(prompt, allLogits: true);
            double prefillWorst = Enumerable.Range(0, PrefillLength).Max(i => TestModels.RelativeL2(logits.AsSpan(i * v, v), expected[i]));
            int exact = errors.Count(e => e <= Exact);
            string summary = $"{path} gqa {mix}: {exact}/{SingleTokens} single tokens within {Exact:E0} (worst {errors.Max():E2}); prefill worst {prefillWorst:E2}";
            output.WriteLine(summary);
            Assert.True(exact >= SingleTokens * 3 / 4 && errors.Max() <= PerIsa && prefillWorst <= PerIsa, summary);
        }
        finally
        {
            (KernelDispatch.Default, GgmlSums.UseVector512) = saved;
        }
    }
}
