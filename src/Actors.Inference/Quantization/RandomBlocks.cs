using Actors.Inference.Gguf;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Quantization;

/// <summary>
/// Random blocks of the weight types we have no encoder for: every bit random except the f16 scales
/// and mins, which get normal values around 1e-3 (no NaN, infinity or subnormal), so the decoded
/// weights stay in a realistic range. For kernel tests and speed probes, whose results do not
/// depend on how the values were chosen.
/// </summary>
public static class RandomBlocks
{
    /// <summary>Offsets of each block's f16 fields, and whether the field is a min (either sign).</summary>
    private static (int Offset, bool Signed)[] HalfFields(GgmlType t) => t switch
    {
        GgmlType.Q4_1 or GgmlType.Q5_1 => [(0, false), (2, true)],
        GgmlType.Q5_0 or GgmlType.IQ4_NL or GgmlType.IQ4_XS or GgmlType.Q4_0 or GgmlType.Q8_0 => [(0, false)],
        GgmlType.Q2_K => [(80, false), (82, false)],
        GgmlType.Q3_K => [(108, false)],
        GgmlType.Q4_K or GgmlType.Q5_K => [(0, false), (2, false)],
        GgmlType.Q6_K => [(208, false)],
        _ => throw new NotSupportedException($"no random blocks for {t}"),
    };

    public static void Fill(GgmlType type, Span<byte> bytes, ulong seed)
    {
        var rng = new DeterministicRandom(seed ^ 0x5DEECE66DUL);
        for (int i = 0; i < bytes.Length; i++) bytes[i] = (byte)rng.NextInt(256);
        var fields = HalfFields(type);
        int bb = GgmlTypeInfo.BlockBytes(type);
        for (int b = 0; b + bb <= bytes.Length; b += bb)
            foreach (var (off, signed) in fields)
            {
                double v = (0.2 + rng.NextDouble()) * 2e-3 * (signed ? (rng.NextInt(2) == 0 ? -20 : 20) : 1);
                BitConverter.TryWriteBytes(bytes.Slice(b + off, 2), (Half)v);
            }
    }
}
