namespace Actors.Inference.Gguf;

/// <summary>ggml tensor types with the ids of ggml.h (gguf.md's list is stale: BF16 is 30).</summary>
public enum GgmlType : uint
{
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q8_1 = 9,
    Q2_K = 10,
    Q3_K = 11,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    Q8_K = 15,
    IQ2_XXS = 16,
    IQ2_XS = 17,
    IQ3_XXS = 18,
    IQ1_S = 19,
    IQ4_NL = 20,
    IQ3_S = 21,
    IQ2_S = 22,
    IQ4_XS = 23,
    I8 = 24,
    I16 = 25,
    I32 = 26,
    I64 = 27,
    F64 = 28,
    IQ1_M = 29,
    BF16 = 30,
    TQ1_0 = 34,
    TQ2_0 = 35,
}

/// <summary>Block size (elements per block) and block bytes of each ggml type, from ggml-common.h.</summary>
public static class GgmlTypeInfo
{
    /// <summary>One past the largest type id ggml knows (GGML_TYPE_COUNT).</summary>
    public const uint Count = 39;

    public static bool IsKnown(GgmlType t) => TryGetLayout(t, out _, out _);

    /// <summary>Elements per block and bytes per block; false for ids ggml removed or does not have.</summary>
    public static bool TryGetLayout(GgmlType t, out int blockSize, out int blockBytes)
    {
        (blockSize, blockBytes) = t switch
        {
            GgmlType.F32 => (1, 4),
            GgmlType.F16 => (1, 2),
            GgmlType.BF16 => (1, 2),
            GgmlType.Q4_0 => (32, 18),
            GgmlType.Q4_1 => (32, 20),
            GgmlType.Q5_0 => (32, 22),
            GgmlType.Q5_1 => (32, 24),
            GgmlType.Q8_0 => (32, 34),
            GgmlType.Q8_1 => (32, 36),
            GgmlType.Q2_K => (256, 84),
            GgmlType.Q3_K => (256, 110),
            GgmlType.Q4_K => (256, 144),
            GgmlType.Q5_K => (256, 176),
            GgmlType.Q6_K => (256, 210),
            GgmlType.Q8_K => (256, 292),
            GgmlType.IQ2_XXS => (256, 66),
            GgmlType.IQ2_XS => (256, 74),
            GgmlType.IQ3_XXS => (256, 98),
            GgmlType.IQ1_S => (256, 50),
            GgmlType.IQ4_NL => (32, 18),
            GgmlType.IQ3_S => (256, 110),
            GgmlType.IQ2_S => (256, 82),
            GgmlType.IQ4_XS => (256, 136),
            GgmlType.I8 => (1, 1),
            GgmlType.I16 => (1, 2),
            GgmlType.I32 => (1, 4),
            GgmlType.I64 => (1, 8),
            GgmlType.F64 => (1, 8),
            GgmlType.IQ1_M => (256, 56),
            GgmlType.TQ1_0 => (256, 54),
            GgmlType.TQ2_0 => (256, 66),
            _ => (0, 0),
        };
        return blockSize != 0;
    }

    public static int BlockSize(GgmlType t) =>
        TryGetLayout(t, out int bs, out _) ? bs : throw new NotSupportedException($"unknown ggml type id {(uint)t}");

    public static int BlockBytes(GgmlType t) =>
        TryGetLayout(t, out _, out int bb) ? bb : throw new NotSupportedException($"unknown ggml type id {(uint)t}");

    /// <summary>Bytes of one row of <paramref name="elements"/> values; elements must be a multiple of the block size.</summary>
    public static long RowBytes(GgmlType t, long elements)
    {
        int bs = BlockSize(t);
        if (elements % bs != 0)
            throw new ArgumentException($"{t} rows must hold a multiple of {bs} elements, got {elements}");
        return elements / bs * BlockBytes(t);
    }

    /// <summary>The weight types the CPU backend multiplies with (every type llama.cpp's quantizer writes for its common mixes).</summary>
    public static readonly IReadOnlyList<GgmlType> SupportedWeightTypes =
    [
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS,
    ];

    /// <summary>The supported types as one comma-separated list, for error messages.</summary>
    public static string SupportedWeightTypeList => string.Join(", ", SupportedWeightTypes);

    /// <summary>Whether the CPU backend can multiply with weights of this type.</summary>
    public static bool IsSupportedWeightType(GgmlType t) => SupportedWeightTypes.Contains(t);

    /// <summary>Bits per weight, for sizing and planning.</summary>
    public static double BitsPerWeight(GgmlType t) => 8.0 * BlockBytes(t) / BlockSize(t);
}
