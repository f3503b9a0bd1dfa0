using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q8_0 weights repacked at load for a register tile of 16 rows × up to 4 tokens, multiplied with
/// AVX-VNNI vpdpbusd (u8 × s8, four products per int32 lane, no saturation).
/// </summary>
/// <remarks>
/// Layout: groups of 16 rows (the last one padded with zero rows); inside a group, block after block
/// (32 columns), each <see cref="BlockBytes"/> long:
/// <list type="bullet">
/// <item>bytes 0..63: the 16 rows' scales d as f32 (widened from f16 once, here);</item>
/// <item>bytes 64 + 64·s .. (step s = 0..7): columns 4s..4s+3 of rows 0..15, four bytes per row, stored as
/// w + 128 (w xor 0x80) so they are vpdpbusd's unsigned operand.</item>
/// </list>
/// One 32-byte load is then the same four columns of eight rows, and one broadcast of four activation
/// bytes feeds the group. Σ(w+128)·x = Σw·x + 128·Σx: each four-value integer lane starts at −128·Σx
/// (<see cref="PreparedActivations.OffsetSums"/>), so it is exact.
/// Per (row, token) the float work is llama.cpp's for Q8_0 on this CPU (tinyBLAS, batch or single token
/// alike): eight f32 lanes, lane s = values 4s..4s+3 of each block, lane = fma(f32(lane integer), d_w·d_x, lane)
/// block after block, then tinyBLAS's horizontal sum; the same whatever the tile, the token count or the
/// row split, so results are batch-invariant.
/// </remarks>
internal sealed class RepackedQ8_0 : RepackedWeights
{
    public const int BlockBytes = 64 + GroupRows * 32;
    private const int SourceBlockBytes = 34;

    public int Blocks { get; }

    /// <summary>Whether this machine runs the repacked kernel (AVX-512 path with AVX-VNNI).</summary>
    public static bool IsSupported => AvxVnni.IsSupported && KernelDispatch.Best == KernelPath.Avx512;

    private RepackedQ8_0(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    /// <summary>The repacked copy of <paramref name="w"/>, or null when it does not fit one array.</summary>
    public static RepackedQ8_0? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q8_0) throw new ArgumentException($"{w} is not Q8_0", nameof(w));
        int blocks = w.Cols / 32;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ8_0(w.Rows, blocks);
        int rb = w.RowBytes;
        var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * rb;
        var flip = Vector256.Create(unchecked((int)0x80808080));
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var src = w.RowSpan(g * GroupRows, rows);
            ref byte dst = ref r.Group(g);
            if (rows == GroupRows && Avx2.IsSupported)
            {
                // Step s of block b is dword s of the block's quants in each of the 16 rows: two 8-row gathers.
                unsafe
                {
                    fixed (byte* p = src)
                    {
                        for (int b = 0; b < blocks; b++)
                        {
                            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                            byte* q = p + b * SourceBlockBytes;
                            for (int row = 0; row < GroupRows; row++)
                                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), (float)BitConverter.UInt16BitsToHalf(Unsafe.ReadUnaligned<ushort>(q + row * rb)));
                            for (int st = 0; st < 8; st++)
                            {
                                ref int o = ref Unsafe.As<byte, int>(ref Unsafe.Add(ref blk, 64 + 64 * st));
                                (Avx2.GatherVector256((int*)(q + 2 + 4 * st), rowOffsets, 1) ^ flip).StoreUnsafe(ref o);
                                (Avx2.GatherVector256((int*)(q + 8 * rb + 2 + 4 * st), rowOffsets, 1) ^ flip).StoreUnsafe(ref o, 8);
                            }
                        }
                    }
                }
                continue;
            }
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                for (int row = 0; row < GroupRows; row++)
                {
                    if (row >= rows)
                    {
                        // Padding rows: d = 0 and w = 0 (stored as 128), so they add exactly zero.
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), 0f);
                        for (int st = 0; st < 8; st++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 64 * st + 4 * row), 0x80808080u);
                        continue;
                    }
                    var sb = src.Slice(row * rb + b * SourceBlockBytes, SourceBlockBytes);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), (float)BitConverter.UInt16BitsToHalf(MemoryMarshal.Read<ushort>(sb)));
                    for (int st = 0; st < 8; st++)
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 64 * st + 4 * row), MemoryMarshal.Read<uint>(sb.Slice(2 + 4 * st)) ^ 0x80808080u);
                }
            }
        }
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, int offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        // Eight lanes per (row, token): 16 rows × two tokens fill the registers, so two passes.
        TwoTokens(ref grp, a, t0, ref tile);
        TwoTokens(ref grp, a, t0 + 2, ref Unsafe.Add(ref tile, 32));
    }

    /// <summary>
    /// Rows 0..15 of the group × tokens t, t+1 into tile[0..15] and tile[16..31], in tinyBLAS's order: eight
    /// f32 lanes per (row, token), lane s = step s (values 4s..4s+3 of every block),
    /// lane_s = fma(f32(Σ of its four products), d_w·d_x, lane_s) block after block, then
    /// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). The integer lanes come from 256-bit vpdpbusd (rows
    /// 0..7 and 8..15); converting and folding 16 rows per 512-bit op halves the float work.
    /// </summary>
    private static void TwoTokens(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks, cols = a.Cols, q4 = cols / 4, ss = a.ScaleStride;
        ref sbyte xA = ref QuantMath.Quants(a, t);
        ref sbyte xB = ref Unsafe.Add(ref xA, cols);
        ref float dxA = ref QuantMath.Scales(a, t);
        ref int oA = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * q4);
        ref int oB = ref Unsafe.Add(ref oA, q4);
        ref byte blk = ref grp;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int b = 0; b < nb; b++)
        {
            var dw = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var dA = dw * Vector512.Create(Unsafe.Add(ref dxA, b));
            var dB = dw * Vector512.Create(Unsafe.Add(ref dxA, ss + b));
            var l0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64));
            var h0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96));
            a0 = Lane(a0, l0, h0, X4(ref xA, 0), Unsafe.Add(ref oA, 0), dA);
            b0 = Lane(b0, l0, h0, X4(ref xB, 0), Unsafe.Add(ref oB, 0), dB);
            var l1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 128));
            var h1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 160));
            a1 = Lane(a1, l1, h1, X4(ref xA, 4), Unsafe.Add(ref oA, 1), dA);
            b1 = Lane(b1, l1, h1, X4(ref xB, 4), Unsafe.Add(ref oB, 1), dB);
            var l2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 192));
            var h2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 224));
            a2 = Lane(a2, l2, h2, X4(ref xA, 8), Unsafe.Add(ref oA, 2), dA);
            b2 = Lane(b2, l2, h2, X4(ref xB, 8), Unsafe.Add(ref oB, 2), dB);
            var l3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 256));
            var h3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 288));
            a3 = Lane(a3, l3, h3, X4(ref xA, 12), Unsafe.Add(ref oA, 3), dA);
            b3 = Lane(b3, l3, h3, X4(ref xB, 12), Unsafe.Add(ref oB, 3), dB);
            var l4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 320));
            var h4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 352));
            a4 = Lane(a4, l4, h4, X4(ref xA, 16), Unsafe.Add(ref oA, 4), dA);
            b4 = Lane(b4, l4, h4, X4(ref xB, 16), Unsafe.Add(ref oB, 4), dB);
            var l5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 384));
            var h5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 416));
            a5 = Lane(a5, l5, h5, X4(ref xA, 20), Unsafe.Add(ref oA, 5), dA);
            b5 = Lane(b5, l5, h5, X4(ref xB, 20), Unsafe.Add(ref oB, 5), dB);
            var l6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 448));
            var h6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 480));
            a6 = Lane(a6, l6, h6, X4(ref xA, 24), Unsafe.Add(ref oA, 6), dA);
            b6 = Lane(b6, l6, h6, X4(ref xB, 24), Unsafe.Add(ref oB, 6), dB);
            var l7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 512));
            var h7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 544));
            a7 = Lane(a7, l7, h7, X4(ref xA, 28), Unsafe.Add(ref oA, 7), dA);
            b7 = Lane(b7, l7, h7, X4(ref xB, 28), Unsafe.Add(ref oB, 7), dB);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
            xA = ref Unsafe.Add(ref xA, 32);
            xB = ref Unsafe.Add(ref xB, 32);
            oA = ref Unsafe.Add(ref oA, 8);
            oB = ref Unsafe.Add(ref oB, 8);
        }
        Tree(a0, a1, a2, a3, a4, a5, a6, a7).StoreUnsafe(ref tile);
        Tree(b0, b1, b2, b3, b4, b5, b6, b7).StoreUnsafe(ref tile, 16);
    }

    /// <summary>Rows 0..15 × token t, in the order of <see cref="TwoTokens"/>.</summary>
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * (a.Cols / 4));
        ref byte blk = ref grp;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int b = 0; b < nb; b++)
        {
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(Unsafe.Add(ref dx, b));
            a0 = Lane(a0, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96)), X4(ref x, 0), Unsafe.Add(ref o, 0), d);
            a1 = Lane(a1, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 128)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 160)), X4(ref x, 4), Unsafe.Add(ref o, 1), d);
            a2 = Lane(a2, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 192)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 224)), X4(ref x, 8), Unsafe.Add(ref o, 2), d);
            a3 = Lane(a3, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 256)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 288)), X4(ref x, 12), Unsafe.Add(ref o, 3), d);
            a4 = Lane(a4, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 320)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 352)), X4(ref x, 16), Unsafe.Add(ref o, 4), d);
            a5 = Lane(a5, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 384)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 416)), X4(ref x, 20), Unsafe.Add(ref o, 5), d);
            a6 = Lane(a6, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 448)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 480)), X4(ref x, 24), Unsafe.Add(ref o, 6), d);
            a7 = Lane(a7, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 512)), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 544)), X4(ref x, 28), Unsafe.Add(ref o, 7), d);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
            x = ref Unsafe.Add(ref x, 32);
            o = ref Unsafe.Add(ref o, 8);
        }
        Tree(a0, a1, a2, a3, a4, a5, a6, a7).StoreUnsafe(ref tile);
    }

    /// <summary>tinyBLAS's horizontal sum of eight lanes, lane by lane over sixteen rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Tree(Vector512<float> l0, Vector512<float> l1, Vector512<float> l2, Vector512<float> l3,
        Vector512<float> l4, Vector512<float> l5, Vector512<float> l6, Vector512<float> l7) =>
        ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));

    /// <summary>One step of one block for rows 0..15: lane += f32(offset + Σ(w+128)·x over four values)·(d_w·d_x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lane(Vector512<float> lane, Vector256<byte> lo, Vector256<byte> hi, Vector256<sbyte> x, int offset, Vector512<float> d)
    {
        var o = Vector256.Create(offset);
        var i = Vector512.Create(Dp(o, lo, x), Dp(o, hi, x));
        return Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i), d, lane);
    }
}
