using Actors.Cuda.Tests.LlamaCppFiles;
using Actors.Inference.Compute;
using Actors.Inference.Model;

namespace Actors.Cuda.Tests;

// Part of GpuStageTests (group "stage" of the GPU check) that needs llama.cpp's quantizer: only in the
// `dotnet test` build, not in the GPU bundle (see Actors.Cuda.Tests.csproj).
public partial class GpuStageTests
{
    public static TheoryData<string> LlamaCppMixCases() => new(LlamaCppQuantized.Mixes);

    /// <summary>As Stage_logits_match_the_reference_through_prefill_and_decode, on llama.cpp's file of each mix.</summary>
    [GpuTheory]
    [MemberData(nameof(LlamaCppMixCases))]
    public void Stage_logits_of_a_llama_cpp_file_match_the_reference_through_prefill_and_decode(string mix)
    {
        using var model = LlamaModel.Open(LlamaCppQuantized.Path(mix));
        var kv = new KvCacheSpec(16, 32, model.Config.HeadCountKv, model.Config.HeadDim, KvCacheType.F32);
        var device = TestEnvironment.Device;
        TestEnvironment.RequireCublasUnlessAllowed(device);
        using var stage = device.LoadCudaStage(model, new LayerRange(0, model.Config.BlockCount), kv, maxBatchTokens: 64);
        var reference = new ReferenceLlama(model, kv);
        var rng = new Random(13);
        int vocab = model.Config.VocabSize;
        double tolerance = stage.UsesCublas ? 2e-2 : 1e-4; // GEMM steps carry f16 activations

        void Check(StepBatch batch, string what)
        {
            var logits = new float[batch.LogitCount * vocab];
            stage.Forward(batch, default, logits);
            var expected = reference.Forward(batch);
            double scale = Math.Max(1, expected.Max(x => Math.Abs((double)x)));
            Reference.AssertClose(expected, logits, tolerance * scale, 0, $"{mix} {what}");
        }

        var prefill = Reference.Batch(rng, kv, newTokens: [20, 5], contexts: [20, 5], vocab, reserve: [40, 40]);
        Check(prefill, "prefill");
        var decode = Reference.Continue(prefill, kv, [1, 1], vocab, rng);
        Check(decode, "decode");
        Check(Reference.Continue(decode, kv, [1, 12], vocab, rng), "mixed");
    }
}
