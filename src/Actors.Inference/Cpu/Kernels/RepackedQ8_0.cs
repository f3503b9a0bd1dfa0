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
            // w + 128 (xor 0x80) for vpdpbusd's unsigned operand; padding rows hold w = 0, stored as 128.
            CopyBlocks32(src, rb, rows, blocks, BlockBytes, steps: 8, flip: 0x80808080u, padding: 0x80808080u, ref dst);
        }
        return r;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, nint offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    /// <summary>
    /// Rows 0..15 of the group × tokens t0..t0+3 into tile[k·16 + r]: for each token pair, two passes over the
    /// blocks (lanes 0..3, then 4..7), so each weight load feeds two tokens. Each lane's operations, and so each
    /// (row, token)'s bits, are those of <see cref="Tile1"/>.
    /// </summary>
    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        Span<Vector512<float>> lanes = stackalloc Vector512<float>[4 * 8];
        ref Vector512<float> l = ref MemoryMarshal.GetReference(lanes);
        TwoTokensFourLanes(ref grp, a, t0, 0, ref l);
        TwoTokensFourLanes(ref grp, a, t0, 4, ref l);
        TwoTokensFourLanes(ref grp, a, t0 + 2, 0, ref Unsafe.Add(ref l, 16));
        TwoTokensFourLanes(ref grp, a, t0 + 2, 4, ref Unsafe.Add(ref l, 16));
        for (int k = 0; k < 4; k++)
        {
            ref Vector512<float> lk = ref Unsafe.Add(ref l, 8 * k);
            Tree(lk, Unsafe.Add(ref lk, 1), Unsafe.Add(ref lk, 2), Unsafe.Add(ref lk, 3), Unsafe.Add(ref lk, 4),
                Unsafe.Add(ref lk, 5), Unsafe.Add(ref lk, 6), Unsafe.Add(ref lk, 7)).StoreUnsafe(ref tile, (nuint)(16 * k));
        }
    }

    /// <summary>
    /// Lanes s0..s0+3 of rows 0..15 × tokens t0, t0+1 over every block, into lanes[s] and lanes[8 + s]: eight
    /// accumulators, two block scales, the temporaries and the pointers all stay in registers (16 lanes
    /// × two tokens, or four tokens × four lanes, made the JIT spill accumulators every step).
    /// </summary>
    private static void TwoTokensFourLanes(ref byte grp, PreparedActivations a, int t0, int s0, ref Vector512<float> lanes)
    {
        int nb = a.Blocks;
        nint x1 = a.Cols, o1 = x1 / 4, s1 = a.ScaleStride;
        ref sbyte x = ref Unsafe.Add(ref QuantMath.Quants(a, t0), 4 * s0);
        ref float dx = ref QuantMath.Scales(a, t0);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, t0 * o1 + s0);
        ref byte blk = ref grp;
        nint w0 = 64 + 64 * s0;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default;
        for (int b = 0; b < nb; b++)
        {
            var dw = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var dA = dw * Vector512.Create(dx);
            var dB = dw * Vector512.Create(Unsafe.Add(ref dx, s1));
            ref byte w = ref Unsafe.Add(ref blk, w0);
            var lo = Vector256.LoadUnsafe(ref w);
            var hi = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 32));
            a0 = Lane(a0, lo, hi, X4(ref x, 0), o, dA);
            b0 = Lane(b0, lo, hi, X4(ref x, x1), Unsafe.Add(ref o, o1), dB);
            lo = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 64));
            hi = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 96));
            a1 = Lane(a1, lo, hi, X4(ref x, 4), Unsafe.Add(ref o, 1), dA);
            b1 = Lane(b1, lo, hi, X4(ref x, x1 + 4), Unsafe.Add(ref o, o1 + 1), dB);
            lo = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 128));
            hi = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 160));
            a2 = Lane(a2, lo, hi, X4(ref x, 8), Unsafe.Add(ref o, 2), dA);
            b2 = Lane(b2, lo, hi, X4(ref x, x1 + 8), Unsafe.Add(ref o, o1 + 2), dB);
            lo = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 192));
            hi = Vector256.LoadUnsafe(ref Unsafe.Add(ref w, 224));
            a3 = Lane(a3, lo, hi, X4(ref x, 12), Unsafe.Add(ref o, 3), dA);
            b3 = Lane(b3, lo, hi, X4(ref x, x1 + 12), Unsafe.Add(ref o, o1 + 3), dB);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
            x = ref Unsafe.Add(ref x, 32);
            o = ref Unsafe.Add(ref o, 8);
            dx = ref Unsafe.Add(ref dx, 1);
        }
        ref Vector512<float> l = ref Unsafe.Add(ref lanes, s0);
        l = a0; Unsafe.Add(ref l, 1) = a1; Unsafe.Add(ref l, 2) = a2; Unsafe.Add(ref l, 3) = a3;
        l = ref Unsafe.Add(ref l, 8);
        l = b0; Unsafe.Add(ref l, 1) = b1; Unsafe.Add(ref l, 2) = b2; Unsafe.Add(ref l, 3) = b3;
    }

    /// <summary>
    /// Rows 0..15 × token t into tile[r], in tinyBLAS's order: eight f32 lanes per (row, token), lane s = step s
    /// (values 4s..4s+3 of every block), lane_s = fma(f32(Σ of its four products), d_w·d_x, lane_s) block after
    /// block, then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). The integer lanes come from 256-bit vpdpbusd
    /// (rows 0..7 and 8..15); converting and folding 16 rows per 512-bit op halves the float work.
    /// </summary>
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
        // One vinserti64x4 into the low half's register (Vector512.Create(lo, hi) compiles to two merging
        // inserts into a register carried across iterations, a false dependency chain and spills).
        var i = Avx512F.InsertVector256(Dp(o, lo, x).ToVector512Unsafe(), Dp(o, hi, x), 1);
        return Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(i), d, lane);
    }
}
