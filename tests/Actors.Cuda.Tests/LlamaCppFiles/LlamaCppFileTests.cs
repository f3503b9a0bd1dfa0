using Actors.Cuda.Kernels;
using Actors.Inference.Compute;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Xunit;

namespace Actors.Cuda.Tests.LlamaCppFiles;

/// <summary>
/// Files made by llama.cpp's quantizer in the mixes users download (Q5_K_M, Q3_K_M, Q2_K, IQ4_XS, ...):
/// the CUDA load check accepts them, their real blocks decode bit for bit like the C# reference on the
/// host build of kernels/ggml_groups.cuh, and on a GPU a stage's logits match the reference forward pass.
/// </summary>
public class LlamaCppFileTests
{
    public static TheoryData<string> MixCases() => new(LlamaCppQuantized.Mixes);

    /// <summary>The type each mix is named after, which its file must hold.</summary>
    private static GgmlType MainType(string mix) => Enum.Parse<GgmlType>(mix.EndsWith("_M") ? mix[..^2] : mix);

    [Theory]
    [MemberData(nameof(MixCases))]
    public void A_llama_cpp_file_of_the_mix_passes_the_cuda_load_check(string mix)
    {
        string path = LlamaCppQuantized.Path(mix);
        var types = LlamaCppQuantized.TypesIn(path);
        Assert.Contains(MainType(mix), types);
        using var file = GgufFile.Open(path);
        var matrices = file.Tensors.Where(t => t.Dims.Length == 2)
            .Select(t => new WeightMatrix(t.Name, t.Type, (int)t.RowCount, (int)t.RowLength, TensorSource.FromArray(file.TensorMemory(t).ToArray())))
            .ToList();
        CudaWeightTypes.EnsureSupported(Path.GetFileName(path), matrices);
    }

    [HostCompilerTheory]
    [MemberData(nameof(MixCases))]
    public void Every_group_type_tensor_of_a_llama_cpp_file_decodes_bit_for_bit_like_the_reference(string mix)
    {
        using var file = GgufFile.Open(LlamaCppQuantized.Path(mix));
        var tensors = file.Tensors.Where(t => KernelNames.DecodesInGroups(t.Type)).ToList();
        Assert.Contains(tensors, t => t.Type == MainType(mix));
        foreach (var t in tensors)
            HostDecodeTests.AssertHostDecodesLikeReference(t.Type, file.TensorMemory(t).ToArray(), $"{mix} tensor {t.Name}");
    }

    /// <summary>As GpuStageTests' prefill/decode/mixed steps, on llama.cpp's file of each mix.</summary>
    [GpuTheory]
    [MemberData(nameof(MixCases))]
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
