using System.Buffers.Binary;
using Actors.Inference.Gguf;

namespace Actors.Inference.Quantization;

/// <summary>
/// Straightforward (scalar, unoptimised) encoders and decoders for every weight type the project
/// reads. The decoders are the ground truth the optimised kernels are tested against; the encoders
/// feed the test-model generator. Encoders need not equal ggml's quantisers bit for bit: both
/// engines decode the same bytes, which is what the comparisons rely on.
/// </summary>
public static partial class ReferenceQuantizer
{
    /// <summary>Whether <see cref="Quantize(GgmlType, ReadOnlySpan{float}, Span{byte})"/> can encode this type (other types come from llama.cpp's quantizer).</summary>
    public static bool CanQuantize(GgmlType type) => type is
        GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_K or GgmlType.Q6_K;

    public static byte[] Quantize(GgmlType type, ReadOnlySpan<float> values)
    {
        var dst = new byte[GgmlTypeInfo.RowBytes(type, values.Length)];
        Quantize(type, values, dst);
        return dst;
    }

    public static void Quantize(GgmlType type, ReadOnlySpan<float> src, Span<byte> dst)
    {
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(dst[(4 * i)..], src[i]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(dst[(2 * i)..], (Half)src[i]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < src.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], BFloat16.FromSingle(src[i]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < src.Length / 32; b++) QuantizeQ8_0Block(src.Slice(b * 32, 32), dst.Slice(b * 34, 34));
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < src.Length / 32; b++) QuantizeQ4_0Block(src.Slice(b * 32, 32), dst.Slice(b * 18, 18));
                break;
            case GgmlType.Q4_K:
                for (int b = 0; b < src.Length / 256; b++) QuantizeQ4_KBlock(src.Slice(b * 256, 256), dst.Slice(b * 144, 144));
                break;
            case GgmlType.Q6_K:
                for (int b = 0; b < src.Length / 256; b++) QuantizeQ6_KBlock(src.Slice(b * 256, 256), dst.Slice(b * 210, 210));
                break;
            default:
                throw new NotSupportedException($"quantizing to {type} is not supported");
        }
    }

    /// <summary>Decodes one row of <paramref name="dst"/>.Length values of the given type.</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < dst.Length; i++) dst[i] = BinaryPrimitives.ReadSingleLittleEndian(src[(4 * i)..]);
                break;
            case GgmlType.F16:
                for (int i = 0; i < dst.Length; i++) dst[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(src[(2 * i)..]);
                break;
            case GgmlType.BF16:
                for (int i = 0; i < dst.Length; i++) dst[i] = BFloat16.ToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < dst.Length / 32; b++)
                {
                    var blk = src.Slice(b * 34, 34);
                    float d = HalfAt(blk, 0);
                    for (int j = 0; j < 32; j++) dst[b * 32 + j] = d * (sbyte)blk[2 + j];
                }
                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < dst.Length / 32; b++)
                {
                    var blk = src.Slice(b * 18, 18);
                    float d = HalfAt(blk, 0);
                    for (int j = 0; j < 16; j++)
                    {
                        dst[b * 32 + j] = d * ((blk[2 + j] & 0xF) - 8);
                        dst[b * 32 + j + 16] = d * ((blk[2 + j] >> 4) - 8);
                    }
                }
                break;
            case GgmlType.Q4_K:
                for (int b = 0; b < dst.Length / 256; b++) DequantizeQ4_KBlock(src.Slice(b * 144, 144), dst.Slice(b * 256, 256));
                break;
            case GgmlType.Q6_K:
                for (int b = 0; b < dst.Length / 256; b++) DequantizeQ6_KBlock(src.Slice(b * 210, 210), dst.Slice(b * 256, 256));
                break;
            default:
                if (!TryDequantizeMore(type, src, dst)) throw new NotSupportedException($"dequantizing {type} is not supported");
                break;
        }
    }

    public static float HalfAt(ReadOnlySpan<byte> b, int offset) => (float)BinaryPrimitives.ReadHalfLittleEndian(b[offset..]);

    private static void WriteHalf(Span<byte> b, int offset, float v) => BinaryPrimitives.WriteHalfLittleEndian(b[offset..], (Half)v);

    private static void QuantizeQ8_0Block(ReadOnlySpan<float> x, Span<byte> blk)
    {
        float amax = 0;
        foreach (float v in x) amax = MathF.Max(amax, MathF.Abs(v));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        WriteHalf(blk, 0, d);
        for (int j = 0; j < 32; j++) blk[2 + j] = (byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
    }

    private static void QuantizeQ4_0Block(ReadOnlySpan<float> x, Span<byte> blk)
    {
        // ggml's reference: d = (value with the largest magnitude) / -8; q = min(15, (int)(x/d + 8.5)).
        float amax = 0, max = 0;
        foreach (float v in x)
            if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        WriteHalf(blk, 0, d);
        for (int j = 0; j < 16; j++)
        {
            int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
            int q1 = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
            blk[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    private static void QuantizeQ4_KBlock(ReadOnlySpan<float> x, Span<byte> blk)
    {
        Span<float> scale = stackalloc float[8];
        Span<float> min = stackalloc float[8];
        for (int j = 0; j < 8; j++)
        {
            var sub = x.Slice(32 * j, 32);
            float lo = 0, hi = 0; // the range always includes 0, so the min term stays non-negative
            foreach (float v in sub) { lo = MathF.Min(lo, v); hi = MathF.Max(hi, v); }
            scale[j] = (hi - lo) / 15f;
            min[j] = -lo;
        }
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++) { maxScale = MathF.Max(maxScale, scale[j]); maxMin = MathF.Max(maxMin, min[j]); }
        float d = maxScale / 63f, dmin = maxMin / 63f;
        WriteHalf(blk, 0, d);
        WriteHalf(blk, 2, dmin);
        // Use the f16-rounded values, as the decoder will.
        d = HalfAt(blk, 0);
        dmin = HalfAt(blk, 2);
        Span<byte> sc = stackalloc byte[8];
        Span<byte> mn = stackalloc byte[8];
        for (int j = 0; j < 8; j++)
        {
            sc[j] = (byte)Math.Clamp((int)MathF.Round(d > 0 ? scale[j] / d : 0), 0, 63);
            mn[j] = (byte)Math.Clamp((int)MathF.Round(dmin > 0 ? min[j] / dmin : 0), 0, 63);
        }
        QuantBlocks.PackScaleMinK4(sc, mn, blk.Slice(4, 12));
        var qs = blk.Slice(16, 128);
        qs.Clear();
        for (int j = 0; j < 8; j++)
        {
            float ds = d * sc[j], dm = dmin * mn[j];
            for (int l = 0; l < 32; l++)
            {
                int q = ds > 0 ? Math.Clamp((int)MathF.Round((x[32 * j + l] + dm) / ds), 0, 15) : 0;
                int chunk = j / 2;
                qs[32 * chunk + l] |= (byte)((j & 1) == 0 ? q : q << 4);
            }
        }
    }

    private static void DequantizeQ4_KBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 0), dmin = HalfAt(blk, 2);
        var scales = blk.Slice(4, 12);
        var qs = blk.Slice(16, 128);
        for (int j = 0; j < 8; j++)
        {
            QuantBlocks.GetScaleMinK4(j, scales, out int sc, out int m);
            float ds = d * sc, dm = dmin * m;
            int chunk = j / 2;
            for (int l = 0; l < 32; l++)
            {
                int q = (j & 1) == 0 ? qs[32 * chunk + l] & 0xF : qs[32 * chunk + l] >> 4;
                y[32 * j + l] = ds * q - dm;
            }
        }
    }

    private static void QuantizeQ6_KBlock(ReadOnlySpan<float> x, Span<byte> blk)
    {
        Span<float> scale = stackalloc float[16];
        float maxAbsScale = 0, maxScale = 0;
        for (int s = 0; s < 16; s++)
        {
            float amax = 0, max = 0;
            for (int l = 0; l < 16; l++)
            {
                float v = x[16 * s + l];
                if (MathF.Abs(v) > amax) { amax = MathF.Abs(v); max = v; }
            }
            scale[s] = max / -32f; // the extreme value maps to q = -32, the full range
            if (MathF.Abs(scale[s]) > maxAbsScale) { maxAbsScale = MathF.Abs(scale[s]); maxScale = scale[s]; }
        }
        float d = maxScale / -128f;
        WriteHalf(blk, 208, d);
        d = HalfAt(blk, 208);
        var ql = blk[..128];
        var qh = blk.Slice(128, 64);
        var sc = blk.Slice(192, 16);
        ql.Clear();
        qh.Clear();
        Span<int> q = stackalloc int[256];
        for (int s = 0; s < 16; s++)
        {
            int isc = d != 0 ? Math.Clamp((int)MathF.Round(scale[s] / d), -128, 127) : 0;
            sc[s] = (byte)(sbyte)isc;
            float ds = d * isc;
            for (int l = 0; l < 16; l++)
                q[16 * s + l] = ds != 0 ? Math.Clamp((int)MathF.Round(x[16 * s + l] / ds), -32, 31) + 32 : 32;
        }
        for (int n = 0; n < 2; n++)
        {
            int y0 = 128 * n, l0 = 64 * n, h0 = 32 * n;
            for (int l = 0; l < 32; l++)
            {
                int q1 = q[y0 + l], q2 = q[y0 + l + 32], q3 = q[y0 + l + 64], q4 = q[y0 + l + 96];
                ql[l0 + l] = (byte)((q1 & 0xF) | ((q3 & 0xF) << 4));
                ql[l0 + l + 32] = (byte)((q2 & 0xF) | ((q4 & 0xF) << 4));
                qh[h0 + l] = (byte)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }

    private static void DequantizeQ6_KBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 208);
        var ql = blk[..128];
        var qh = blk.Slice(128, 64);
        var sc = blk.Slice(192, 16);
        for (int n = 0; n < 2; n++)
        {
            int y0 = 128 * n, l0 = 64 * n, h0 = 32 * n, s0 = 8 * n;
            for (int l = 0; l < 32; l++)
            {
                int isc = l / 16;
                int q1 = ((ql[l0 + l] & 0xF) | (((qh[h0 + l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l0 + l + 32] & 0xF) | (((qh[h0 + l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l0 + l] >> 4) | (((qh[h0 + l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l0 + l + 32] >> 4) | (((qh[h0 + l] >> 6) & 3) << 4)) - 32;
                y[y0 + l] = d * (sbyte)sc[s0 + isc] * q1;
                y[y0 + l + 32] = d * (sbyte)sc[s0 + isc + 2] * q2;
                y[y0 + l + 64] = d * (sbyte)sc[s0 + isc + 4] * q3;
                y[y0 + l + 96] = d * (sbyte)sc[s0 + isc + 6] * q4;
            }
        }
    }
}
