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
        // Eight lanes per (row, token) leave room for eight rows × two tokens at a time: four passes.
        for (int half = 0; half < 2; half++)
        {
            TwoTokens(ref grp, a, t0, half, ref Unsafe.Add(ref tile, 8 * half));
            TwoTokens(ref grp, a, t0 + 2, half, ref Unsafe.Add(ref tile, 32 + 8 * half));
        }
    }

    /// <summary>
    /// Rows 8·half..8·half+7 of the group × tokens t, t+1 into tile[0..7] and tile[16..23], in tinyBLAS's order:
    /// eight f32 lanes per (row, token), lane s = step s (values 4s..4s+3 of every block),
    /// lane_s = fma(f32(Σ of its four products), d_w·d_x, lane_s) block after block, then
    /// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
    /// </summary>
    private static void TwoTokens(ref byte grp, PreparedActivations a, int t, int half, ref float tile)
    {
        int nb = a.Blocks, cols = a.Cols, q4 = cols / 4, ss = a.ScaleStride;
        ref sbyte xA = ref QuantMath.Quants(a, t);
        ref sbyte xB = ref Unsafe.Add(ref xA, cols);
        ref float dxA = ref QuantMath.Scales(a, t);
        ref int oA = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * q4);
        ref int oB = ref Unsafe.Add(ref oA, q4);
        ref byte blk = ref Unsafe.Add(ref grp, 32 * half);
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int b = 0; b < nb; b++)
        {
            var dw = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var dA = dw * Vector256.Create(Unsafe.Add(ref dxA, b));
            var dB = dw * Vector256.Create(Unsafe.Add(ref dxA, ss + b));
            var w0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64));
            a0 = Lane(a0, w0, X4(ref xA, 0), Unsafe.Add(ref oA, 0), dA);
            b0 = Lane(b0, w0, X4(ref xB, 0), Unsafe.Add(ref oB, 0), dB);
            var w1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 128));
            a1 = Lane(a1, w1, X4(ref xA, 4), Unsafe.Add(ref oA, 1), dA);
            b1 = Lane(b1, w1, X4(ref xB, 4), Unsafe.Add(ref oB, 1), dB);
            var w2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 192));
            a2 = Lane(a2, w2, X4(ref xA, 8), Unsafe.Add(ref oA, 2), dA);
            b2 = Lane(b2, w2, X4(ref xB, 8), Unsafe.Add(ref oB, 2), dB);
            var w3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 256));
            a3 = Lane(a3, w3, X4(ref xA, 12), Unsafe.Add(ref oA, 3), dA);
            b3 = Lane(b3, w3, X4(ref xB, 12), Unsafe.Add(ref oB, 3), dB);
            var w4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 320));
            a4 = Lane(a4, w4, X4(ref xA, 16), Unsafe.Add(ref oA, 4), dA);
            b4 = Lane(b4, w4, X4(ref xB, 16), Unsafe.Add(ref oB, 4), dB);
            var w5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 384));
            a5 = Lane(a5, w5, X4(ref xA, 20), Unsafe.Add(ref oA, 5), dA);
            b5 = Lane(b5, w5, X4(ref xB, 20), Unsafe.Add(ref oB, 5), dB);
            var w6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 448));
            a6 = Lane(a6, w6, X4(ref xA, 24), Unsafe.Add(ref oA, 6), dA);
            b6 = Lane(b6, w6, X4(ref xB, 24), Unsafe.Add(ref oB, 6), dB);
            var w7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 512));
            a7 = Lane(a7, w7, X4(ref xA, 28), Unsafe.Add(ref oA, 7), dA);
            b7 = Lane(b7, w7, X4(ref xB, 28), Unsafe.Add(ref oB, 7), dB);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
            xA = ref Unsafe.Add(ref xA, 32);
            xB = ref Unsafe.Add(ref xB, 32);
            oA = ref Unsafe.Add(ref oA, 8);
            oB = ref Unsafe.Add(ref oB, 8);
        }
        Tree(a0, a1, a2, a3, a4, a5, a6, a7).StoreUnsafe(ref tile);
        Tree(b0, b1, b2, b3, b4, b5, b6, b7).StoreUnsafe(ref tile, 16);
    }

    /// <summary>Rows 0..15 × token t, in the order of <see cref="TwoTokens"/> (the two halves share the activation loads).</summary>
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * (a.Cols / 4));
        ref byte blk = ref grp;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int b = 0; b < nb; b++)
        {
            var vdx = Vector256.Create(Unsafe.Add(ref dx, b));
            var dA = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * vdx;
            var dB = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32))) * vdx;
            var x0 = X4(ref x, 0);
            var o0 = Vector256.Create(Unsafe.Add(ref o, 0));
            a0 = Lane(a0, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64)), x0, o0, dA);
            b0 = Lane(b0, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96)), x0, o0, dB);
            var x1 = X4(ref x, 4);
            var o1 = Vector256.Create(Unsafe.Add(ref o, 1));
            a1 = Lane(a1, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 128)), x1, o1, dA);
            b1 = Lane(b1, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 160)), x1, o1, dB);
            var x2 = X4(ref x, 8);
            var o2 = Vector256.Create(Unsafe.Add(ref o, 2));
            a2 = Lane(a2, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 192)), x2, o2, dA);
            b2 = Lane(b2, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 224)), x2, o2, dB);
            var x3 = X4(ref x, 12);
            var o3 = Vector256.Create(Unsafe.Add(ref o, 3));
            a3 = Lane(a3, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 256)), x3, o3, dA);
            b3 = Lane(b3, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 288)), x3, o3, dB);
            var x4 = X4(ref x, 16);
            var o4 = Vector256.Create(Unsafe.Add(ref o, 4));
            a4 = Lane(a4, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 320)), x4, o4, dA);
            b4 = Lane(b4, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 352)), x4, o4, dB);
            var x5 = X4(ref x, 20);
            var o5 = Vector256.Create(Unsafe.Add(ref o, 5));
            a5 = Lane(a5, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 384)), x5, o5, dA);
            b5 = Lane(b5, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 416)), x5, o5, dB);
            var x6 = X4(ref x, 24);
            var o6 = Vector256.Create(Unsafe.Add(ref o, 6));
            a6 = Lane(a6, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 448)), x6, o6, dA);
            b6 = Lane(b6, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 480)), x6, o6, dB);
            var x7 = X4(ref x, 28);
            var o7 = Vector256.Create(Unsafe.Add(ref o, 7));
            a7 = Lane(a7, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 512)), x7, o7, dA);
            b7 = Lane(b7, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 544)), x7, o7, dB);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
            x = ref Unsafe.Add(ref x, 32);
            o = ref Unsafe.Add(ref o, 8);
        }
        Tree(a0, a1, a2, a3, a4, a5, a6, a7).StoreUnsafe(ref tile);
        Tree(b0, b1, b2, b3, b4, b5, b6, b7).StoreUnsafe(ref tile, 8);
    }

    /// <summary>tinyBLAS's horizontal sum of eight lanes, lane by lane over eight rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Tree(Vector256<float> l0, Vector256<float> l1, Vector256<float> l2, Vector256<float> l3,
        Vector256<float> l4, Vector256<float> l5, Vector256<float> l6, Vector256<float> l7) =>
        ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));

    /// <summary>One step of one block: lane += f32(offset + Σ(w+128)·x over four values)·(d_w·d_x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lane(Vector256<float> lane, Vector256<byte> w, Vector256<sbyte> x, int offset, Vector256<float> d) =>
        Lane(lane, w, x, Vector256.Create(offset), d);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lane(Vector256<float> lane, Vector256<byte> w, Vector256<sbyte> x, Vector256<int> offset, Vector256<float> d) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Dp(offset, w, x)), d, lane);
}
