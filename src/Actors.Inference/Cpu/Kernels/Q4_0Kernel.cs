using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q4_0 weights (18-byte blocks: f16 d, 16 bytes holding nibbles n = q+8) against Q8_0 activations.
/// Σ_b d_w·d_x·Σ(n−8)·x is computed as Σ_b d_w·d_x·Σn·x − 8·Σ_b d_w·(d_x·Σx): the stored nibbles are
/// unsigned, which is what vpmaddubsw wants, and the offset term uses the activation's precomputed
/// d_x·Σx, so it costs one FMA per 16 blocks instead of work per element.
/// </summary>
internal readonly struct Q4_0Kernel : IRowKernel
{
    private const int B = 18;

    public static int Tile(KernelPath path) => path == KernelPath.Portable ? 1 : 4;

    public static int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride) => 0;

    public static bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        y0 = y1 = 0;
        return false;
    }

    public static float Dot1(KernelPath path, ref byte row, PreparedActivations a, int t) => path switch
    {
        KernelPath.Avx512 => Dot512(ref row, a, t),
        KernelPath.Avx2 => Dot256(ref row, a, t),
        _ => Dot128(ref row, a, t),
    };

    public static void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        if (path == KernelPath.Avx512) Tile512(ref row, a, t0, ref y, ys);
        else if (path == KernelPath.Avx2) Tile256(ref row, a, t0, ref y, ys);
        else y = Dot128(ref row, a, t0);
    }

    // ---------------- Portable ----------------

    private static float Dot128(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        var mask = Vector128.Create((byte)0x0F);
        var eight = Vector128.Create((sbyte)8);
        float s = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            var v = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 2));
            var lo = (v & mask).AsSByte() - eight;
            var hi = (v >> 4).AsSByte() - eight;
            int isum = Vector128.Sum(DotI8(lo, Load128(ref x, 32 * b)) + DotI8(hi, Load128(ref x, 32 * b + 16)));
            s = MathF.FusedMultiplyAdd(Half(ref blk) * Unsafe.Add(ref dx, b), isum, s);
        }
        return s;
    }

    // ---------------- AVX2: one block per 256-bit vector ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Nibbles256(ref byte blk)
    {
        var q = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 2));
        return Vector256.Create(q, (q.AsUInt16() >> 4).AsByte()) & Vector256.Create((byte)0x0F);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Step256(Vector256<float> acc, Vector256<byte> nib, ref sbyte x, int b, float s) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(DotU8S8(nib, Vector256.LoadUnsafe(ref x, (nuint)(32 * b)))), Vector256.Create(s), acc);

    // Two accumulator sets, even and odd blocks: one FMA chain per block would wait 4 cycles each.
    private static float Dot256(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref float dxs = ref ScaledSums(a, t);
        Vector256<float> acc = default, acc1 = default;
        float c = 0, c1 = 0;
        int b = 0;
        for (; b + 1 < a.Blocks; b += 2)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            ref byte blk1 = ref Unsafe.Add(ref blk, B);
            float dw = Half(ref blk), dw1 = Half(ref blk1);
            acc = Step256(acc, Nibbles256(ref blk), ref x, b, dw * Unsafe.Add(ref dx, b));
            acc1 = Step256(acc1, Nibbles256(ref blk1), ref x, b + 1, dw1 * Unsafe.Add(ref dx, b + 1));
            c = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref dxs, b), c);
            c1 = MathF.FusedMultiplyAdd(dw1, Unsafe.Add(ref dxs, b + 1), c1);
        }
        if (b < a.Blocks)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            float dw = Half(ref blk);
            acc = Step256(acc, Nibbles256(ref blk), ref x, b, dw * Unsafe.Add(ref dx, b));
            c = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref dxs, b), c);
        }
        return VectorMath.HSum(acc + acc1) - 8f * (c + c1);
    }

    private static void Tile256(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride;
        ref sbyte x0 = ref Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, n);
        ref sbyte x2 = ref Unsafe.Add(ref x1, n);
        ref sbyte x3 = ref Unsafe.Add(ref x2, n);
        ref float d0 = ref Scales(a, t0);
        ref float e0 = ref ScaledSums(a, t0);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        float c0 = 0, c1 = 0, c2 = 0, c3 = 0, f0 = 0, f1 = 0, f2 = 0, f3 = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref row, b * B);
            float dw = Half(ref blk);
            var nib = Nibbles256(ref blk);
            if ((b & 1) == 0)
            {
                a0 = Step256(a0, nib, ref x0, b, dw * Unsafe.Add(ref d0, b));
                a1 = Step256(a1, nib, ref x1, b, dw * Unsafe.Add(ref d0, ss + b));
                a2 = Step256(a2, nib, ref x2, b, dw * Unsafe.Add(ref d0, 2 * ss + b));
                a3 = Step256(a3, nib, ref x3, b, dw * Unsafe.Add(ref d0, 3 * ss + b));
                c0 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, b), c0);
                c1 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, ss + b), c1);
                c2 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, 2 * ss + b), c2);
                c3 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, 3 * ss + b), c3);
            }
            else
            {
                b0 = Step256(b0, nib, ref x0, b, dw * Unsafe.Add(ref d0, b));
                b1 = Step256(b1, nib, ref x1, b, dw * Unsafe.Add(ref d0, ss + b));
                b2 = Step256(b2, nib, ref x2, b, dw * Unsafe.Add(ref d0, 2 * ss + b));
                b3 = Step256(b3, nib, ref x3, b, dw * Unsafe.Add(ref d0, 3 * ss + b));
                f0 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, b), f0);
                f1 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, ss + b), f1);
                f2 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, 2 * ss + b), f2);
                f3 = MathF.FusedMultiplyAdd(dw, Unsafe.Add(ref e0, 3 * ss + b), f3);
            }
        }
        y = VectorMath.HSum(a0 + b0) - 8f * (c0 + f0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1 + b1) - 8f * (c1 + f1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2 + b2) - 8f * (c2 + f2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3 + b3) - 8f * (c3 + f3);
    }

    // ---------------- AVX-512: two blocks per vector, scales 16 blocks at a time ----------------
    // A pair (36 bytes) is read as two in-bounds 32-byte loads at +0 and +4; one vpermt2b places each
    // block's 16 nibble bytes twice (low half, high half) and one gf2p8affineqb keeps the low nibble in
    // the first copy and the high nibble in the second, giving ggml's element order. The f16 scales of
    // 16 blocks are collected with vpermt2w, converted together, multiplied by the activation scales,
    // and each pair picks its two scales with vpermps.

    private static readonly Vector512<byte> PairBytes = Vector512.Create(
        2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
        2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17,
        80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
        80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, (byte)95);

    private static readonly Vector512<byte> PairNibbles = Vector512.Create(
        LowNibbleMatrix, LowNibbleMatrix, HighNibbleMatrix, HighNibbleMatrix,
        LowNibbleMatrix, LowNibbleMatrix, HighNibbleMatrix, HighNibbleMatrix).AsByte();

    private static readonly Vector512<ushort>[] ScaleGather = BuildScaleGather(9);

    /// <summary>vpermt2w indices that copy words 0 and <paramref name="second"/> of a pair's bytes into lanes 2k, 2k+1.</summary>
    internal static Vector512<ushort>[] BuildScaleGather(int second)
    {
        var r = new Vector512<ushort>[8];
        Span<ushort> idx = stackalloc ushort[32];
        for (int k = 0; k < 8; k++)
        {
            for (int i = 0; i < 32; i++) idx[i] = (ushort)i;
            idx[2 * k] = 32;
            idx[2 * k + 1] = (ushort)(32 + second);
            r[k] = Vector512.Create<ushort>(idx);
        }
        return r;
    }

    /// <summary>Scales of a group: the permute tree for full groups; the same values by a simple chain for the last, partial one.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GroupScales(ref byte g, int m) => m == 16
        ? ScalesOf16Blocks18(ref g)
        : PartialGroupScales(ref g, m);

    [MethodImpl(MethodImplOptions.AggressiveInlining)] // a call here would spill every live zmm (all are caller-saved)
    private static Vector512<float> PartialGroupScales(ref byte g, int m)
    {
        var sw = Vector512<ushort>.Zero;
        ref var gather = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(ScaleGather);
        int k = 0;
        for (; 2 * k + 1 < m; k++)
            sw = Avx512BW.PermuteVar32x16x2(sw, Unsafe.Add(ref gather, k), Vector256.LoadUnsafe(ref Unsafe.Add(ref g, 2 * B * k)).AsUInt16().ToVector512Unsafe());
        if ((m & 1) != 0) // a lone last block: 16-byte load, word 9 reads the zero extension
            sw = Avx512BW.PermuteVar32x16x2(sw, Unsafe.Add(ref gather, k), Vector128.LoadUnsafe(ref Unsafe.Add(ref g, 2 * B * k)).AsUInt16().ToVector256().ToVector512());
        return HalfConversion.ToSingle(Avx512F.ConvertToVector512UInt32(sw.GetLower()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> NibblePair(ref byte p)
    {
        var q = Avx512Vbmi.PermuteVar64x8x2(Vector256.LoadUnsafe(ref p).ToVector512Unsafe(), PairBytes,
            Vector256.LoadUnsafe(ref Unsafe.Add(ref p, 4)).ToVector512Unsafe());
        return Gfni.V512.GaloisFieldAffineTransform(q, PairNibbles, 0);
    }

    /// <summary>A lone last block in the low half; the high half is zero so it adds nothing.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> NibbleSingle(ref byte p) => Nibbles256(ref p).ToVector512();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step512(Vector512<float> acc, Vector512<byte> nib, Vector512<sbyte> x, Vector512<float> s, Vector512<int> idx) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(DotU8S8(nib, x)), Avx512F.PermuteVar16x32(s, idx), acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> XPair(ref sbyte x, int block) => Vector512.LoadUnsafe(ref x, (nuint)(32 * block));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> XSingle(ref sbyte x, int block) => Vector256.LoadUnsafe(ref x, (nuint)(32 * block)).ToVector512();

    private static readonly Vector512<int> PairScaleIndex = Vector512.Create(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);

    // ---- quads: four blocks (72 bytes) per step, activations in PreparedActivations.QuadInterleaved order ----
    // Two in-bounds 64-byte loads (at +0 and +8) cover the quad; one vpermt2b gathers the four blocks'
    // 16 nibble bytes each, and two gf2p8affineqb give the low nibbles (elements 0..15 of each block)
    // and the high nibbles (elements 16..31). The two vpmaddubsw results share lanes, so they add as
    // int16 (|sum| ≤ 4·15·127) before one vpmaddwd, one conversion and one FMA: 11 operations per
    // four blocks against 16 for two pairs.

    private static readonly Vector512<byte> QuadBytes = BuildQuadBytes();
    private static readonly Vector512<byte> LowNibbles = Vector512.Create(LowNibbleMatrix).AsByte();
    private static readonly Vector512<byte> HighNibbles = Vector512.Create(HighNibbleMatrix).AsByte();
    private static readonly Vector512<int> QuadScaleIndex = Vector512.Create(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);

    private static Vector512<byte> BuildQuadBytes()
    {
        Span<byte> idx = stackalloc byte[64];
        for (int k = 0; k < 4; k++)
            for (int j = 0; j < 16; j++)
            {
                int src = 18 * k + 2 + j; // byte of the quad
                idx[16 * k + j] = (byte)(src < 64 ? src : 64 + src - 8); // second source starts at +8
            }
        return Vector512.Create<byte>(idx);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> QuadNibbleBytes(ref byte p) =>
        Avx512Vbmi.PermuteVar64x8x2(Vector512.LoadUnsafe(ref p), QuadBytes, Vector512.LoadUnsafe(ref Unsafe.Add(ref p, 8)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> StepQuad(Vector512<float> acc, Vector512<byte> lo, Vector512<byte> hi, ref sbyte x, int block, Vector512<float> s, Vector512<int> idx)
    {
        var p16 = Avx512BW.MultiplyAddAdjacent(lo, Vector512.LoadUnsafe(ref x, (nuint)(32 * block)))
                + Avx512BW.MultiplyAddAdjacent(hi, Vector512.LoadUnsafe(ref x, (nuint)(32 * block + 64)));
        var p32 = Avx512BW.MultiplyAddAdjacent(p16, Vector512<short>.One);
        return Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(p32), Avx512F.PermuteVar16x32(s, idx), acc);
    }

    // Per group of 16 blocks: whole quads (even quads into acc, odd into acc1), then a pair (acc) and a
    // lone block (acc1) in element order. Tile512 follows the same assignment per token.
    private static float Dot512(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref float dxs = ref ScaledSums(a, t);
        int nb = a.Blocks;
        Vector512<float> acc = default, acc1 = default;
        var accC = Vector512<float>.Zero;
        var four = Vector512.Create(4);
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte gp = ref Unsafe.Add(ref row, g * B);
            var dw = GroupScales(ref gp, m);
            var s = dw * Vector512.LoadUnsafe(ref dx, (nuint)g);
            accC = Vector512.FusedMultiplyAdd(dw, Vector512.LoadUnsafe(ref dxs, (nuint)g), accC);
            var idx = QuadScaleIndex;
            int k = 0;
            for (; k + 8 <= m; k += 8, idx += four + four)
            {
                var q0 = QuadNibbleBytes(ref Unsafe.Add(ref gp, B * k));
                var q1 = QuadNibbleBytes(ref Unsafe.Add(ref gp, B * (k + 4)));
                acc = StepQuad(acc, Gfni.V512.GaloisFieldAffineTransform(q0, LowNibbles, 0), Gfni.V512.GaloisFieldAffineTransform(q0, HighNibbles, 0), ref x, g + k, s, idx);
                acc1 = StepQuad(acc1, Gfni.V512.GaloisFieldAffineTransform(q1, LowNibbles, 0), Gfni.V512.GaloisFieldAffineTransform(q1, HighNibbles, 0), ref x, g + k + 4, s, idx + four);
            }
            if (k + 4 <= m)
            {
                var q0 = QuadNibbleBytes(ref Unsafe.Add(ref gp, B * k));
                acc = StepQuad(acc, Gfni.V512.GaloisFieldAffineTransform(q0, LowNibbles, 0), Gfni.V512.GaloisFieldAffineTransform(q0, HighNibbles, 0), ref x, g + k, s, idx);
                k += 4;
            }
            var pidx = PairScaleIndex + Vector512.Create(k);
            if (k + 2 <= m)
            {
                acc = Step512(acc, NibblePair(ref Unsafe.Add(ref gp, B * k)), XPair(ref x, g + k), s, pidx);
                k += 2;
                pidx += Vector512.Create(2);
            }
            if (k < m)
                acc1 = Step512(acc1, NibbleSingle(ref Unsafe.Add(ref gp, B * k)), XSingle(ref x, g + k), s, pidx);
        }
        return VectorMath.HSum(acc + acc1) - 8f * VectorMath.HSum(accC);
    }

    private static void Tile512(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, nb = a.Blocks;
        ref sbyte x0 = ref Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, n);
        ref sbyte x2 = ref Unsafe.Add(ref x1, n);
        ref sbyte x3 = ref Unsafe.Add(ref x2, n);
        ref float d0 = ref Scales(a, t0);
        ref float d1 = ref Unsafe.Add(ref d0, ss);
        ref float d2 = ref Unsafe.Add(ref d1, ss);
        ref float d3 = ref Unsafe.Add(ref d2, ss);
        ref float e0 = ref ScaledSums(a, t0);
        ref float e1 = ref Unsafe.Add(ref e0, ss);
        ref float e2 = ref Unsafe.Add(ref e1, ss);
        ref float e3 = ref Unsafe.Add(ref e2, ss);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        var four = Vector512.Create(4);
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte gp = ref Unsafe.Add(ref row, g * B);
            var dw = GroupScales(ref gp, m);
            var s0 = dw * Vector512.LoadUnsafe(ref d0, (nuint)g);
            var s1 = dw * Vector512.LoadUnsafe(ref d1, (nuint)g);
            var s2 = dw * Vector512.LoadUnsafe(ref d2, (nuint)g);
            var s3 = dw * Vector512.LoadUnsafe(ref d3, (nuint)g);
            c0 = Vector512.FusedMultiplyAdd(dw, Vector512.LoadUnsafe(ref e0, (nuint)g), c0);
            c1 = Vector512.FusedMultiplyAdd(dw, Vector512.LoadUnsafe(ref e1, (nuint)g), c1);
            c2 = Vector512.FusedMultiplyAdd(dw, Vector512.LoadUnsafe(ref e2, (nuint)g), c2);
            c3 = Vector512.FusedMultiplyAdd(dw, Vector512.LoadUnsafe(ref e3, (nuint)g), c3);
            var idx = QuadScaleIndex;
            int k = 0;
            for (; k + 4 <= m; k += 4, idx += four)
            {
                var q = QuadNibbleBytes(ref Unsafe.Add(ref gp, B * k));
                var lo = Gfni.V512.GaloisFieldAffineTransform(q, LowNibbles, 0);
                var hi = Gfni.V512.GaloisFieldAffineTransform(q, HighNibbles, 0);
                if ((k & 4) == 0)
                {
                    a0 = StepQuad(a0, lo, hi, ref x0, g + k, s0, idx);
                    a1 = StepQuad(a1, lo, hi, ref x1, g + k, s1, idx);
                    a2 = StepQuad(a2, lo, hi, ref x2, g + k, s2, idx);
                    a3 = StepQuad(a3, lo, hi, ref x3, g + k, s3, idx);
                }
                else
                {
                    b0 = StepQuad(b0, lo, hi, ref x0, g + k, s0, idx);
                    b1 = StepQuad(b1, lo, hi, ref x1, g + k, s1, idx);
                    b2 = StepQuad(b2, lo, hi, ref x2, g + k, s2, idx);
                    b3 = StepQuad(b3, lo, hi, ref x3, g + k, s3, idx);
                }
            }
            var pidx = PairScaleIndex + Vector512.Create(k);
            if (k + 2 <= m)
            {
                var nib = NibblePair(ref Unsafe.Add(ref gp, B * k));
                a0 = Step512(a0, nib, XPair(ref x0, g + k), s0, pidx);
                a1 = Step512(a1, nib, XPair(ref x1, g + k), s1, pidx);
                a2 = Step512(a2, nib, XPair(ref x2, g + k), s2, pidx);
                a3 = Step512(a3, nib, XPair(ref x3, g + k), s3, pidx);
                k += 2;
                pidx += Vector512.Create(2);
            }
            if (k < m)
            {
                var nib = NibbleSingle(ref Unsafe.Add(ref gp, B * k));
                b0 = Step512(b0, nib, XSingle(ref x0, g + k), s0, pidx);
                b1 = Step512(b1, nib, XSingle(ref x1, g + k), s1, pidx);
                b2 = Step512(b2, nib, XSingle(ref x2, g + k), s2, pidx);
                b3 = Step512(b3, nib, XSingle(ref x3, g + k), s3, pidx);
            }
        }
        y = VectorMath.HSum(a0 + b0) - 8f * VectorMath.HSum(c0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1 + b1) - 8f * VectorMath.HSum(c1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2 + b2) - 8f * VectorMath.HSum(c2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3 + b3) - 8f * VectorMath.HSum(c3);
    }
}
