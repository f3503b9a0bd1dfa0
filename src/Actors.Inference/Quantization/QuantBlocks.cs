namespace Actors.Inference.Quantization;

/// <summary>
/// Byte layouts of the ggml quantized blocks this project reads (ggml-common.h). All fields are
/// little-endian and packed; d, dmin are IEEE binary16.
/// </summary>
public static class QuantBlocks
{
    /// <summary>Q8_0: d (f16) @0, qs[32] int8 @2. y = d·q.</summary>
    public const int Q8_0Bytes = 34, Q8_0Size = 32;

    /// <summary>Q4_0: d (f16) @0, qs[16] @2; element j (j&lt;16) = (qs[j]&amp;15)-8, element j+16 = (qs[j]&gt;&gt;4)-8. y = d·q.</summary>
    public const int Q4_0Bytes = 18, Q4_0Size = 32;

    /// <summary>
    /// Q4_K (256 values, 8 sub-blocks of 32): d (f16) @0, dmin (f16) @2, scales[12] @4 (six-bit scale and min
    /// per sub-block, see <see cref="GetScaleMinK4"/>), qs[128] @16: chunk c's 32 bytes hold sub-block 2c in
    /// the low nibbles and 2c+1 in the high nibbles. y = d·sc·q − dmin·m.
    /// </summary>
    public const int Q4_KBytes = 144, QK_K = 256;

    /// <summary>
    /// Q6_K (256 values, 16 sub-blocks of 16): ql[128] @0, qh[64] @128, scales[16] int8 @192, d (f16) @208.
    /// y = d·sc[e/16]·(q − 32) with q's low 4 bits in ql and high 2 bits in qh (see the dequantizer).
    /// </summary>
    public const int Q6_KBytes = 210;

    /// <summary>The 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (ggml's get_scale_min_k4).</summary>
    public static void GetScaleMinK4(int j, ReadOnlySpan<byte> q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>Packs eight 6-bit scales and mins into the 12 bytes that <see cref="GetScaleMinK4"/> reads.</summary>
    public static void PackScaleMinK4(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> q)
    {
        for (int j = 0; j < 4; j++)
        {
            q[j] = (byte)((scales[j] & 63) | ((scales[j + 4] >> 4) << 6));
            q[j + 4] = (byte)((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
            q[j + 8] = (byte)((scales[j + 4] & 0xF) | ((mins[j + 4] & 0xF) << 4));
        }
    }
}
