namespace Actors.Inference.Quantization;

/// <summary>bfloat16 conversions as ggml does them (ggml-impl.h): the top 16 bits of an f32.</summary>
public static class BFloat16
{
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Round to nearest even; NaN stays NaN (forced quiet), as ggml_compute_fp32_to_bf16.</summary>
    public static ushort FromSingle(float value)
    {
        uint u = BitConverter.SingleToUInt32Bits(value);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 64); // NaN: force quiet
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }
}
