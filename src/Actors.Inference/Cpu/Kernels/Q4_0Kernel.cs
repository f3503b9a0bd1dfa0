using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q4_0 weights (18-byte blocks: f16 d, 16 bytes holding nibbles n = q+8) against Q8_0 activations.
/// AVX2 and Portable compute Σ_b d_w·d_x·Σ(n−8)·x as Σ_b d_w·d_x·Σn·x − 8·Σ_b d_w·(d_x·Σx) (the stored
/// nibbles are unsigned, which is what vpmaddubsw wants; the offset term uses the activation's
/// precomputed d_x·Σx). AVX-512 sums in llama.cpp's order instead (see Dot512), so its outputs carry
/// llama.cpp's bits.
/// </summary>
internal readonly struct Q4_0Kernel : IRowKernel
{
    private const int B = 18;

    public static int Tile(KernelPath path) => path == KernelPath.Portable ? 1 : 4;

    public static int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride) => 0;

    public static bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        if (path != KernelPath.Avx512)
        {
            y0 = y1 = 0;
            return false;
        }
        Dot512x2(ref row0, ref row1, a, t, out y0, out y1);
        return true;
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

    // ---------------- AVX-512: quads of blocks, scales 16 blocks at a time ----------------
    // The f16 scales of 16 blocks are collected with vpermt2w and converted together, then multiplied
    // by the activation scales (d_w·d_x, as ggml's product).

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

    // ---- quads: four blocks (72 bytes) per step, activations in PreparedActivations.QuadInterleaved order ----
    // Two in-bounds 64-byte loads (at +0 and +8) cover the quad; one vpermt2b gathers the four blocks'
    // 16 nibble bytes each, and two gf2p8affineqb give the low nibbles (elements 0..15 of each block)
    // and the high nibbles (elements 16..31).

    private static readonly Vector512<byte> QuadBytes = BuildQuadBytes();
    private static readonly Vector512<byte> LowNibbles = Vector512.Create(LowNibbleMatrix).AsByte();
    private static readonly Vector512<byte> HighNibbles = Vector512.Create(HighNibbleMatrix).AsByte();

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

    // llama.cpp's AVX2/AVX-512 builds repack Q4_0 (8×8, row count a multiple of 8) and sum each output
    // as acc = fma(f32(Σ(n−8)·x), d_w·d_x, acc), one block after another. Per quad of blocks: the
    // unsigned nibble products and the activations' own sums (vpmaddubsw by 1s) in the same lanes give
    // exact Σ(n−8)·x per lane, four lanes per block are folded, and four scalar FMAs follow in block
    // order. Tile512 runs the same chain for each of its tokens.

    private static readonly Vector512<byte> Ones = Vector512.Create((byte)1);

    /// <summary>Exact Σ(n−8)·x of each block of a quad, in lanes 4k (k = block), as ggml's integer sum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> QuadSums(Vector512<byte> lo, Vector512<byte> hi, ref sbyte x, int block) =>
        QuadSums(lo, hi, ref x, block, EightTimesSums(ref x, block));

    /// <summary>8·Σx over each 4 activations of a quad, in the lanes of the products (the offset term).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> EightTimesSums(ref sbyte x, int block)
    {
        var x0 = Vector512.LoadUnsafe(ref x, (nuint)(32 * block));
        var x1 = Vector512.LoadUnsafe(ref x, (nuint)(32 * block + 64));
        return Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Ones, x0) + Avx512BW.MultiplyAddAdjacent(Ones, x1), Vector512<short>.One) << 3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> QuadSums(Vector512<byte> lo, Vector512<byte> hi, ref sbyte x, int block, Vector512<int> eightSx)
    {
        var x0 = Vector512.LoadUnsafe(ref x, (nuint)(32 * block));
        var x1 = Vector512.LoadUnsafe(ref x, (nuint)(32 * block + 64));
        var v = Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(lo, x0) + Avx512BW.MultiplyAddAdjacent(hi, x1), Vector512<short>.One) - eightSx;
        v += Avx512F.Shuffle(v, 0b10_11_00_01);
        return v + Avx512F.Shuffle(v, 0b01_00_11_10);
    }

    /// <summary>Exact Σ(n−8)·x of one block whose activations are in element order (a row's last nb mod 4 blocks).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int BlockSum(ref byte blk, ref sbyte x, int block)
    {
        var v = Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 2));
        var lo = (v & Vector128.Create((byte)0x0F)).AsSByte() - Vector128.Create((sbyte)8);
        var hi = (v >> 4).AsSByte() - Vector128.Create((sbyte)8);
        return Vector128.Sum(DotI8(lo, Load128(ref x, 32 * block)) + DotI8(hi, Load128(ref x, 32 * block + 16)));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Chain4(float acc, Vector512<int> sums, ref float s, int k) =>
        MathF.FusedMultiplyAdd(sums.GetElement(12), Unsafe.Add(ref s, k + 3),
        MathF.FusedMultiplyAdd(sums.GetElement(8), Unsafe.Add(ref s, k + 2),
        MathF.FusedMultiplyAdd(sums.GetElement(4), Unsafe.Add(ref s, k + 1),
        MathF.FusedMultiplyAdd(sums.GetElement(0), Unsafe.Add(ref s, k), acc))));

    [InlineArray(16)]
    private struct Scales16
    {
        private float _f;
    }

    private static float Dot512(ref byte row, PreparedActivations a, int t)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        int nb = a.Blocks;
        Scales16 buf = default;
        ref float s = ref Unsafe.As<Scales16, float>(ref buf);
        float acc = 0;
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte gp = ref Unsafe.Add(ref row, g * B);
            (GroupScales(ref gp, m) * Vector512.LoadUnsafe(ref dx, (nuint)g)).StoreUnsafe(ref s);
            int k = 0;
            for (; k + 4 <= m; k += 4)
            {
                var q = QuadNibbleBytes(ref Unsafe.Add(ref gp, B * k));
                var lo = Gfni.V512.GaloisFieldAffineTransform(q, LowNibbles, 0);
                var hi = Gfni.V512.GaloisFieldAffineTransform(q, HighNibbles, 0);
                acc = Chain4(acc, QuadSums(lo, hi, ref x, g + k), ref s, k);
            }
            for (; k < m; k++) acc = MathF.FusedMultiplyAdd(BlockSum(ref Unsafe.Add(ref gp, B * k), ref x, g + k), Unsafe.Add(ref s, k), acc);
        }
        return acc;
    }

    /// <summary>Two rows' <see cref="Dot512"/> chains interleaved: one FMA chain alone waits on its latency.</summary>
    private static void Dot512x2(ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        int nb = a.Blocks;
        Scales16 buf0 = default, buf1 = default;
        ref float s0 = ref Unsafe.As<Scales16, float>(ref buf0);
        ref float s1 = ref Unsafe.As<Scales16, float>(ref buf1);
        float acc0 = 0, acc1 = 0;
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte g0 = ref Unsafe.Add(ref row0, g * B);
            ref byte g1 = ref Unsafe.Add(ref row1, g * B);
            var d = Vector512.LoadUnsafe(ref dx, (nuint)g);
            (GroupScales(ref g0, m) * d).StoreUnsafe(ref s0);
            (GroupScales(ref g1, m) * d).StoreUnsafe(ref s1);
            int k = 0;
            for (; k + 4 <= m; k += 4)
            {
                var q0 = QuadNibbleBytes(ref Unsafe.Add(ref g0, B * k));
                var q1 = QuadNibbleBytes(ref Unsafe.Add(ref g1, B * k));
                var e = EightTimesSums(ref x, g + k); // the same activations for both rows
                acc0 = Chain4(acc0, QuadSums(Gfni.V512.GaloisFieldAffineTransform(q0, LowNibbles, 0), Gfni.V512.GaloisFieldAffineTransform(q0, HighNibbles, 0), ref x, g + k, e), ref s0, k);
                acc1 = Chain4(acc1, QuadSums(Gfni.V512.GaloisFieldAffineTransform(q1, LowNibbles, 0), Gfni.V512.GaloisFieldAffineTransform(q1, HighNibbles, 0), ref x, g + k, e), ref s1, k);
            }
            for (; k < m; k++)
            {
                acc0 = MathF.FusedMultiplyAdd(BlockSum(ref Unsafe.Add(ref g0, B * k), ref x, g + k), Unsafe.Add(ref s0, k), acc0);
                acc1 = MathF.FusedMultiplyAdd(BlockSum(ref Unsafe.Add(ref g1, B * k), ref x, g + k), Unsafe.Add(ref s1, k), acc1);
            }
        }
        y0 = acc0;
        y1 = acc1;
    }

    private static void Tile512(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, nb = a.Blocks;
        ref sbyte x0 = ref Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, n);
        ref sbyte x2 = ref Unsafe.Add(ref x1, n);
        ref sbyte x3 = ref Unsafe.Add(ref x2, n);
        ref float d0 = ref Scales(a, t0);
        Scales16 b0 = default, b1 = default, b2 = default, b3 = default;
        ref float s0 = ref Unsafe.As<Scales16, float>(ref b0);
        ref float s1 = ref Unsafe.As<Scales16, float>(ref b1);
        ref float s2 = ref Unsafe.As<Scales16, float>(ref b2);
        ref float s3 = ref Unsafe.As<Scales16, float>(ref b3);
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int g = 0; g < nb; g += 16)
        {
            int m = Math.Min(16, nb - g);
            ref byte gp = ref Unsafe.Add(ref row, g * B);
            var dw = GroupScales(ref gp, m);
            (dw * Vector512.LoadUnsafe(ref d0, (nuint)g)).StoreUnsafe(ref s0);
            (dw * Vector512.LoadUnsafe(ref d0, (nuint)(ss + g))).StoreUnsafe(ref s1);
            (dw * Vector512.LoadUnsafe(ref d0, (nuint)(2 * ss + g))).StoreUnsafe(ref s2);
            (dw * Vector512.LoadUnsafe(ref d0, (nuint)(3 * ss + g))).StoreUnsafe(ref s3);
            int k = 0;
            for (; k + 4 <= m; k += 4)
            {
                var q = QuadNibbleBytes(ref Unsafe.Add(ref gp, B * k));
                var lo = Gfni.V512.GaloisFieldAffineTransform(q, LowNibbles, 0);
                var hi = Gfni.V512.GaloisFieldAffineTransform(q, HighNibbles, 0);
                a0 = Chain4(a0, QuadSums(lo, hi, ref x0, g + k), ref s0, k);
                a1 = Chain4(a1, QuadSums(lo, hi, ref x1, g + k), ref s1, k);
                a2 = Chain4(a2, QuadSums(lo, hi, ref x2, g + k), ref s2, k);
                a3 = Chain4(a3, QuadSums(lo, hi, ref x3, g + k), ref s3, k);
            }
            for (; k < m; k++)
            {
                ref byte blk = ref Unsafe.Add(ref gp, B * k);
                a0 = MathF.FusedMultiplyAdd(BlockSum(ref blk, ref x0, g + k), Unsafe.Add(ref s0, k), a0);
                a1 = MathF.FusedMultiplyAdd(BlockSum(ref blk, ref x1, g + k), Unsafe.Add(ref s1, k), a1);
                a2 = MathF.FusedMultiplyAdd(BlockSum(ref blk, ref x2, g + k), Unsafe.Add(ref s2, k), a2);
                a3 = MathF.FusedMultiplyAdd(BlockSum(ref blk, ref x3, g + k), Unsafe.Add(ref s3, k), a3);
            }
        }
        y = a0;
        Unsafe.Add(ref y, ys) = a1;
        Unsafe.Add(ref y, 2 * ys) = a2;
        Unsafe.Add(ref y, 3 * ys) = a3;
    }
}
