using Actors.Inference.Compute;
using Actors.Inference.Gguf;

namespace Actors.Cuda.Kernels;

/// <summary>The `extern "C"` entry point of each op for each element type (pure).</summary>
public static class KernelNames
{
    private static string Suffix(GgmlType type) => type switch
    {
        GgmlType.F32 => "f32",
        GgmlType.F16 => "f16",
        GgmlType.BF16 => "bf16",
        GgmlType.Q8_0 => "q8_0",
        GgmlType.Q4_0 => "q4_0",
        GgmlType.Q4_K => "q4_k",
        GgmlType.Q6_K => "q6_k",
        GgmlType.Q4_1 => "q4_1",
        GgmlType.Q5_0 => "q5_0",
        GgmlType.Q5_1 => "q5_1",
        GgmlType.IQ4_NL => "iq4_nl",
        GgmlType.Q2_K => "q2_k",
        GgmlType.Q3_K => "q3_k",
        GgmlType.Q5_K => "q5_k",
        GgmlType.IQ4_XS => "iq4_xs",
        _ => throw new NotSupportedException($"the CUDA backend has no kernels for {type} (supported: {string.Join(", ", WeightTypes)})"),
    };

    public static string Embedding(GgmlType type) => "embedding_" + Suffix(type);
    public static string Matvec(GgmlType type) => "matvec_" + Suffix(type);

    /// <summary>Dequantisation to f16 for GEMMs; F16 weights need none.</summary>
    public static string DequantToF16(GgmlType type) => type == GgmlType.F16
        ? throw new ArgumentException("F16 weights are used by cuBLAS as they are")
        : $"dequant_{Suffix(type)}_to_f16";

    public static string KvWrite(KvCacheType type) => type == KvCacheType.F16 ? "kv_write_f16" : "kv_write_f32";
    public static string AttentionDecode(KvCacheType type) => type == KvCacheType.F16 ? "attention_decode_f16" : "attention_decode_f32";
    public static string AttentionPrefill(KvCacheType type) => type == KvCacheType.F16 ? "attention_prefill_f16" : "attention_prefill_f32";

    public const string RmsNorm = "rmsnorm_f32", Rope = "rope_norm_f32", SiluMul = "silu_mul_f32", ResidualAdd = "residual_add_f32",
        Argmax = "argmax_f32", TopK = "topk_f32";

    public static readonly GgmlType[] WeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K,
        GgmlType.Q5_K, GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.IQ4_XS, GgmlType.IQ4_NL, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.Q5_1,
    ];

    /// <summary>
    /// The types kernels/ggml_groups.cuh decodes eight values at a time: their matvec gives each lane 8
    /// consecutive values and their dequantisation writes 8 values per thread (<see cref="LaunchShapes.DequantGroups"/>).
    /// </summary>
    public static bool DecodesInGroups(GgmlType type) => type is
        GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.IQ4_NL or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q5_K or GgmlType.IQ4_XS;

    /// <summary>Every entry point the backend launches (a test checks each is defined in kernels/*.cu).</summary>
    public static IEnumerable<string> All()
    {
        foreach (var t in WeightTypes)
        {
            yield return Embedding(t);
            yield return Matvec(t);
            if (t != GgmlType.F16) yield return DequantToF16(t);
        }
        foreach (var kv in new[] { KvCacheType.F32, KvCacheType.F16 })
        {
            yield return KvWrite(kv);
            yield return AttentionDecode(kv);
            yield return AttentionPrefill(kv);
        }
        yield return RmsNorm;
        yield return Rope;
        yield return SiluMul;
        yield return ResidualAdd;
        yield return Argmax;
        yield return TopK;
    }
}
