namespace Actors.Inference.Quantization;

/// <summary>
/// Scalar decoders of the remaining GGUF weight types, written element by element from ggml's
/// dequantize_row_* definitions (the ground truth the kernels are tested against; also how embeddings
/// of these types are read).
/// </summary>
public static partial class ReferenceQuantizer
{
    private static readonly sbyte[] Iq4Levels = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

    private static bool TryDequantizeMore(Gguf.GgmlType type, ReadOnlySpan<byte> src, Span<float> dst)
    {
        int bs = Gguf.GgmlTypeInfo.BlockSize(type), bb = Gguf.GgmlTypeInfo.BlockBytes(type);
        switch (type)
        {
            case Gguf.GgmlType.Q4_1:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeQ4_1Block(src.Slice(b * bb, bb), dst.Slice(b * bs, bs));
                return true;
            case Gguf.GgmlType.Q5_0:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeQ5Block(src.Slice(b * bb, bb), dst.Slice(b * bs, bs), hasMin: false);
                return true;
            case Gguf.GgmlType.Q5_1:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeQ5Block(src.Slice(b * bb, bb), dst.Slice(b * bs, bs), hasMin: true);
                return true;
            case Gguf.GgmlType.IQ4_NL:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeIQ4_NLBlock(src.Slice(b * bb, bb), dst.Slice(b * bs, bs));
                return true;
            case Gguf.GgmlType.Q2_K:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeQ2_KBlock(src.Slice(b * bb, bb), dst.Slice(b * bs, bs));
                return true;
            case Gguf.GgmlType.Q3_K:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeQ3_KBlock(src.Slice(b * bb, bb), dst.Slice(b * bs, bs));
                return true;
            case Gguf.GgmlType.Q5_K:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeQ5_KBlock(src.Slice(b * bb, bb), dst.Slice(b * bs, bs));
                return true;
            case Gguf.GgmlType.IQ4_XS:
                for (int b = 0; b < dst.Length / bs; b++) DequantizeIQ4_XSBlock(src.Slice(b * bb, bb), dst.Slice(b * bs, bs));
                return true;
        }
        return false;
    }

    /// <summary>Q4_1: d @0, m @2, qs[16] @4. y[j] = d·(qs[j] &amp; 15) + m, y[j+16] = d·(qs[j] ≫ 4) + m.</summary>
    private static void DequantizeQ4_1Block(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 0), m = HalfAt(blk, 2);
        for (int j = 0; j < 16; j++)
        {
            y[j] = (blk[4 + j] & 15) * d + m;
            y[j + 16] = (blk[4 + j] >> 4) * d + m;
        }
    }

    /// <summary>
    /// Q5_0: d @0, qh @2, qs[16] @6, y = d·(q − 16); Q5_1: d @0, m @2, qh @4, qs[16] @8, y = d·q + m. The fifth
    /// bit of value j is bit j of the little-endian u32 qh.
    /// </summary>
    private static void DequantizeQ5Block(ReadOnlySpan<byte> blk, Span<float> y, bool hasMin)
    {
        float d = HalfAt(blk, 0), m = hasMin ? HalfAt(blk, 2) : 0;
        int o = hasMin ? 4 : 2;
        uint qh = (uint)(blk[o] | blk[o + 1] << 8 | blk[o + 2] << 16 | blk[o + 3] << 24);
        for (int j = 0; j < 16; j++)
        {
            int q0 = (blk[o + 4 + j] & 15) | (int)((qh >> j) & 1) << 4;
            int q1 = (blk[o + 4 + j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = hasMin ? q0 * d + m : (q0 - 16) * d;
            y[j + 16] = hasMin ? q1 * d + m : (q1 - 16) * d;
        }
    }

    /// <summary>IQ4_NL: d @0, qs[16] @2. y[j] = d·levels[qs[j] &amp; 15], y[j+16] = d·levels[qs[j] ≫ 4].</summary>
    private static void DequantizeIQ4_NLBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 0);
        for (int j = 0; j < 16; j++)
        {
            y[j] = d * Iq4Levels[blk[2 + j] & 15];
            y[j + 16] = d * Iq4Levels[blk[2 + j] >> 4];
        }
    }

    /// <summary>
    /// Q2_K: scales[16] @0, qs[64] @16, d @80, dmin @82. For half n and shift 2k, the 32 values
    /// 128n+32k+l = (qs[32n+l] ≫ 2k) &amp; 3; each 16 of them has its byte of scales: y = d·(s &amp; 15)·q − dmin·(s ≫ 4).
    /// </summary>
    private static void DequantizeQ2_KBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 80), dmin = HalfAt(blk, 82);
        int i = 0, sub = 0;
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++)
                for (int half = 0; half < 2; half++, sub++)
                {
                    byte s = blk[sub];
                    float dl = d * (s & 15), ml = dmin * (s >> 4);
                    for (int l = 16 * half; l < 16 * half + 16; l++) y[i++] = dl * ((blk[16 + 32 * n + l] >> (2 * k)) & 3) - ml;
                }
    }

    /// <summary>
    /// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d @108. Values as Q2_K's layout, minus 4 where the
    /// value's hmask bit (bit 4n+k of hmask[l]) is clear; sixteen 6-bit scales biased by 32.
    /// </summary>
    private static void DequantizeQ3_KBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 108);
        Span<int> sc = stackalloc int[16];
        var s = blk.Slice(96, 12);
        for (int j = 0; j < 16; j++)
        {
            int low = j < 8 ? s[j] & 15 : s[j - 8] >> 4;
            int high = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            sc[j] = (low | high << 4) - 32;
        }
        int i = 0, sub = 0;
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++)
                for (int half = 0; half < 2; half++, sub++)
                {
                    float dl = d * sc[sub];
                    for (int l = 16 * half; l < 16 * half + 16; l++)
                    {
                        int q = (blk[32 + 32 * n + l] >> (2 * k)) & 3;
                        if ((blk[l] >> (4 * n + k) & 1) == 0) q -= 4;
                        y[i++] = dl * q;
                    }
                }
    }

    /// <summary>
    /// Q5_K: d @0, dmin @2, scales[12] @4 (as Q4_K), qh[32] @16, qs[128] @48. Chunk c: y[64c+l] =
    /// d·sc_{2c}·((qs[32c+l] &amp; 15) + 16·bit 2c of qh[l]) − dmin·m_{2c}, y[64c+32+l] likewise with the high
    /// nibble, bit 2c+1 and sub-block 2c+1.
    /// </summary>
    private static void DequantizeQ5_KBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 0), dmin = HalfAt(blk, 2);
        var scales = blk.Slice(4, 12);
        for (int c = 0; c < 4; c++)
        {
            QuantBlocks.GetScaleMinK4(2 * c, scales, out int s0, out int m0);
            QuantBlocks.GetScaleMinK4(2 * c + 1, scales, out int s1, out int m1);
            float d0 = d * s0, n0 = dmin * m0, d1 = d * s1, n1 = dmin * m1;
            for (int l = 0; l < 32; l++)
            {
                byte q = blk[48 + 32 * c + l], h = blk[16 + l];
                y[64 * c + l] = d0 * ((q & 15) + ((h >> (2 * c)) & 1) * 16) - n0;
                y[64 * c + 32 + l] = d1 * ((q >> 4) + ((h >> (2 * c + 1)) & 1) * 16) - n1;
            }
        }
    }

    /// <summary>
    /// IQ4_XS: d @0, scales_h @2 (u16), scales_l[4] @4, qs[128] @8. Sub-block ib: ls = nibble (ib &amp; 1) of
    /// scales_l[ib/2] | bits 2ib..2ib+1 of scales_h ≪ 4; y = d·(ls − 32)·levels[nibble], low nibbles first.
    /// </summary>
    private static void DequantizeIQ4_XSBlock(ReadOnlySpan<byte> blk, Span<float> y)
    {
        float d = HalfAt(blk, 0);
        int sh = blk[2] | blk[3] << 8;
        for (int ib = 0; ib < 8; ib++)
        {
            int ls = ((blk[4 + ib / 2] >> (4 * (ib % 2))) & 15) | ((sh >> (2 * ib)) & 3) << 4;
            float dl = d * (ls - 32);
            for (int j = 0; j < 16; j++)
            {
                byte q = blk[8 + 16 * ib + j];
                y[32 * ib + j] = dl * Iq4Levels[q & 15];
                y[32 * ib + j + 16] = dl * Iq4Levels[q >> 4];
            }
        }
    }
}
