using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q6_K weights repacked at load for a tile of 16 rows × 4 tokens (and 16 rows × 1), one row per 32-bit lane
/// of a 512-bit vector: the 6-bit values are rebuilt per step from their nibble and 2-bit planes (GFNI moves
/// the bits), multiplied unsigned (0..63) with vpmaddubsw (pairs of products of at most 63·128: no int16
/// saturation), and vpmaddwd applies each 16-value sub-block's scale (int16, duplicated in both halves of
/// the row's lane). The result is the row kernel's (<see cref="Q6_KKernel"/>, llama.cpp's AVX2 vec_dot) bit
/// for bit: per row and token its 8 int32 lanes, lane s = step s of every 32 columns, each folded into its
/// own f32 accumulator block after block, then its horizontal sum.
/// </summary>
/// <remarks>
/// Per group of 16 rows and super-block b (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32); 64..319: the int8 scales in pairs, sub-blocks 2p and 2p+1 of a row at
/// 64 + 32p + 2·row (a row's pair is one 16-bit half of a 32-byte vector that vpmovsxbw widens to one lane);</item>
/// <item>320 + 192·(8n + s): half n (128 columns), step s: 64 bytes of ql[64n + 4s..] of rows 0..15, 64 of
/// ql[64n + 32 + 4s..], 64 of qh[32n + 4s..] (ggml's planes, 4 bytes per row): columns 128n + 32k + 4s..
/// for k = 0..3, sub-block 8n + 2k + s/4.</item>
/// </list>
/// Per (row, token) the float work is llama.cpp's, the same in both tiles: lane_s = fma(f32(L_s), d·d_x, lane_s)
/// block after block, L_s the exact integer lane including −32·(sc_2s·Σx_2s + sc_2s+1·Σx_2s+1), then
/// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
/// </remarks>
internal sealed class RepackedQ6_K : RepackedWeights
{
    public const int BlockBytes = Quants + 2 * 8 * StepBytes;
    private const int Quants = 320, StepBytes = 192;
    private const int SourceBlockBytes = 210;

    // GF(2) affine matrices (gf2p8affineqb): output bit i takes the input bit named by byte 7 − i.
    private const ulong HighBits01 = 0x0000_0000_0102_0000; // qh bits 0,1 -> 4,5 (values 0..31 of a half)
    private const ulong HighBits23 = 0x0000_0000_0408_0000; // qh bits 2,3 -> 4,5 (values 32..63)
    private const ulong HighBits67 = 0x0000_0000_4080_0000; // qh bits 6,7 -> 4,5 (values 96..127)

    public int Blocks { get; }

    public static bool IsSupported => KernelDispatch.Best == KernelPath.Avx512 && Gfni.V512.IsSupported;

    private RepackedQ6_K(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    // Fully optimized from the first call: a model's load runs this once per matrix, too few calls for tiering
    // to promote it, and tier-0 vector code is ten times slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static RepackedQ6_K? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q6_K) throw new ArgumentException($"{w} is not Q6_K", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ6_K(w.Rows, blocks);
        int rb = w.RowBytes;
        Unsafe.SkipInit(out Rows16 m);
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            ref byte src = ref MemoryMarshal.GetReference(w.RowSpan(g * GroupRows, rows));
            ref byte dst = ref r.Group(g);
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                ref byte sb0 = ref Unsafe.Add(ref src, b * SourceBlockBytes);
                for (int row = 0; row < GroupRows; row++)
                {
                    // Padding rows: d = 0 and every value and scale 0, so they add exactly zero.
                    bool pad = row >= rows;
                    ref byte sb = ref Unsafe.Add(ref sb0, (nint)row * rb);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), pad ? 0f : (float)BitConverter.UInt16BitsToHalf(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref sb, 208))));
                    for (int p = 0; p < 8; p++)
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 32 * p + 2 * row), pad ? (ushort)0 : Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref sb, 192 + 2 * p)));
                }
                // The 4-byte columns of 16 rows' planes become steps by a 16 × 16 dword transpose: ql of half n
                // (columns 0..7: ql[64n + 4s..], 8..15: ql[64n + 32 + 4s..]), then qh (columns 8n + s).
                for (int plane = 0; plane < 3; plane++)
                {
                    for (int row = 0; row < GroupRows; row++)
                        m[row] = row < rows ? Vector512.LoadUnsafe(ref Unsafe.Add(ref sb0, (nint)row * rb + 64 * plane)).AsInt32() : default;
                    Transpose(ref m);
                    for (int c = 0; c < 16; c++)
                    {
                        int at = plane < 2 ? StepBytes * (8 * plane + (c & 7)) + 64 * (c >> 3) : StepBytes * c + 128;
                        m[c].AsByte().StoreUnsafe(ref Unsafe.Add(ref blk, Quants + at));
                    }
                }
            }
        }
        return r;
    }

    /// <summary>16 rows of 16 dwords in place into 16 columns (m[c] lane r = old m[r] lane c).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Transpose(ref Rows16 m)
    {
        Unsafe.SkipInit(out Rows16 t);
        for (int i = 0; i < 16; i += 2)
        {
            t[i] = Avx512F.UnpackLow(m[i], m[i + 1]);
            t[i + 1] = Avx512F.UnpackHigh(m[i], m[i + 1]);
        }
        // Now per 128-bit lane L: m[4i + k] holds column 4L + k of rows 4i..4i+3.
        for (int i = 0; i < 16; i += 4)
        {
            m[i] = Avx512F.UnpackLow(t[i].AsInt64(), t[i + 2].AsInt64()).AsInt32();
            m[i + 1] = Avx512F.UnpackHigh(t[i].AsInt64(), t[i + 2].AsInt64()).AsInt32();
            m[i + 2] = Avx512F.UnpackLow(t[i + 1].AsInt64(), t[i + 3].AsInt64()).AsInt32();
            m[i + 3] = Avx512F.UnpackHigh(t[i + 1].AsInt64(), t[i + 3].AsInt64()).AsInt32();
        }
        // A 4 × 4 transpose of 128-bit lanes among m[k], m[4 + k], m[8 + k], m[12 + k].
        for (int k = 0; k < 4; k++)
        {
            var abLow = Avx512F.Shuffle4x128(m[k], m[4 + k], 0x44);
            var abHigh = Avx512F.Shuffle4x128(m[k], m[4 + k], 0xEE);
            var cdLow = Avx512F.Shuffle4x128(m[8 + k], m[12 + k], 0x44);
            var cdHigh = Avx512F.Shuffle4x128(m[8 + k], m[12 + k], 0xEE);
            t[k] = Avx512F.Shuffle4x128(abLow, cdLow, 0x88);
            t[4 + k] = Avx512F.Shuffle4x128(abLow, cdLow, 0xDD);
            t[8 + k] = Avx512F.Shuffle4x128(abHigh, cdHigh, 0x88);
            t[12 + k] = Avx512F.Shuffle4x128(abHigh, cdHigh, 0xDD);
        }
        m = t;
    }

    [InlineArray(16)]
    internal struct Rows16 { private Vector512<int> _e; }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> X4(ref sbyte x, int offset) => Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    /// <summary>Σ over a lane's 4 bytes of w·x as two int16 pair sums (exact: |w·x + w·x| ≤ 2·63·128).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Pairs(Vector512<byte> w, Vector512<sbyte> x) => Avx512BW.MultiplyAddAdjacent(w, x);

    /// <summary>sc·(p₀ + p₁) per lane, <paramref name="scale"/> holding sc in both int16 halves.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Scaled(Vector512<short> pairs, Vector512<short> scale) => Avx512BW.MultiplyAddAdjacent(pairs, scale);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Gf(Vector512<byte> v, ulong matrix) => Gfni.V512.GaloisFieldAffineTransform(v, Vector512.Create(matrix).AsByte(), 0);

    /// <summary>Scale pair p of the 16 rows: lane r = (sc_2p, sc_2p+1) of row r as int16.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> ScalePair(ref byte blk, int p) => Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64 + 32 * p)).AsSByte());

    /// <summary>The even (<paramref name="odd"/> false) or odd sub-block's scale of a pair in both int16 halves of each lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Duplicate(Vector512<short> pair, bool odd)
    {
        var low = Vector512.Create(0x0000FFFF).AsInt16();
        var p = pair.AsUInt32();
        return odd ? Vector512.ConditionalSelect(low, (p >> 16).AsInt16(), pair) : Vector512.ConditionalSelect(low, pair, (p << 16).AsInt16());
    }

    /// <summary>The four 6-bit value vectors (k = 0..3) of one step for the 16 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(ref byte step, out Vector512<byte> e0, out Vector512<byte> e1, out Vector512<byte> e2, out Vector512<byte> e3)
    {
        var m4 = Vector512.Create((byte)0x0F);
        var qa = Vector512.LoadUnsafe(ref step);
        var qb = Vector512.LoadUnsafe(ref Unsafe.Add(ref step, 64));
        var h = Vector512.LoadUnsafe(ref Unsafe.Add(ref step, 128));
        e0 = Vector512.ConditionalSelect(m4, qa, Gf(h, HighBits01));
        e1 = Vector512.ConditionalSelect(m4, qb, Gf(h, HighBits23));
        e2 = Gf(qa, QuantMath.HighNibbleMatrix) | (h & Vector512.Create((byte)0x30));
        e3 = Gf(qb, QuantMath.HighNibbleMatrix) | Gf(h, HighBits67);
    }

    /// <summary>The 16 sub-blocks' scales of a block, each duplicated into both int16 halves of every row's lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void DuplicatedScales(ref byte blk, ref Vector512<short> scales)
    {
        for (int p = 0; p < 8; p++)
        {
            var pair = ScalePair(ref blk, p);
            Unsafe.Add(ref scales, 2 * p) = Duplicate(pair, false);
            Unsafe.Add(ref scales, 2 * p + 1) = Duplicate(pair, true);
        }
    }

    /// <summary>
    /// Lane s of llama.cpp's Q6_K dot (its 8 int32 lanes) for the 16 rows and one token, from step s of both
    /// halves unpacked (e, g): the products of columns 32k + 4s..32k + 4s + 3 (k = 0..3) of both halves, each
    /// times its sub-block's scale, minus 32·(sc_2s·Σx_2s + sc_2s+1·Σx_2s+1). Every reference comes in already
    /// at step s (scales at sub-block s/4, x at column 4s, the sums and scale pair at pair s), so every
    /// offset below is a constant.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Lane(ref byte scalePair, ref Vector512<short> sc, ref sbyte x, ref short sumPair,
        Vector512<byte> e0, Vector512<byte> e1, Vector512<byte> e2, Vector512<byte> e3,
        Vector512<byte> g0, Vector512<byte> g1, Vector512<byte> g2, Vector512<byte> g3)
    {
        var offset = Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref scalePair).AsSByte()),
            Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref sumPair))).AsInt16());
        var h0 = (Scaled(Pairs(e0, X4(ref x, 0)), sc) + Scaled(Pairs(e1, X4(ref x, 32)), Unsafe.Add(ref sc, 2)))
               + (Scaled(Pairs(e2, X4(ref x, 64)), Unsafe.Add(ref sc, 4)) + Scaled(Pairs(e3, X4(ref x, 96)), Unsafe.Add(ref sc, 6)));
        var h1 = (Scaled(Pairs(g0, X4(ref x, 128)), Unsafe.Add(ref sc, 8)) + Scaled(Pairs(g1, X4(ref x, 160)), Unsafe.Add(ref sc, 10)))
               + (Scaled(Pairs(g2, X4(ref x, 192)), Unsafe.Add(ref sc, 12)) + Scaled(Pairs(g3, X4(ref x, 224)), Unsafe.Add(ref sc, 14)));
        return (h0 + h1) - (offset << 5);
    }

    /// <summary>Lane s with its step unpacked here (one token).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Lane(ref byte blk, ref Vector512<short> scales, int s, ref sbyte x, ref short sums16)
    {
        Unpack(ref Unsafe.Add(ref blk, Quants + StepBytes * s), out var e0, out var e1, out var e2, out var e3);
        Unpack(ref Unsafe.Add(ref blk, Quants + StepBytes * (8 + s)), out var g0, out var g1, out var g2, out var g3);
        return Lane(ref Unsafe.Add(ref blk, 64 + 32 * s), ref Unsafe.Add(ref scales, s >> 2), ref Unsafe.Add(ref x, 4 * s), ref Unsafe.Add(ref sums16, 2 * s),
            e0, e1, e2, e3, g0, g1, g2, g3);
    }

    /// <summary>
    /// Blocks ahead that the tiles prefetch (a block is 53 cache lines, about as long to compute as a
    /// DRAM round trip): the steps are read in lane order, two streams a half-block apart, which the hardware
    /// prefetchers follow poorly once the weights come from memory rather than L3.
    /// </summary>
    private const int PrefetchBlocks = 2;

    /// <summary>Prefetches 7 cache lines from line <paramref name="line"/> of <paramref name="block"/> (a hint: past the array's end is harmless).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch(ref byte block, int line)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref block) + 64 * line; // the repacked array is pinned
        Sse.Prefetch0(p);
        Sse.Prefetch0(p + 64);
        Sse.Prefetch0(p + 128);
        Sse.Prefetch0(p + 192);
        Sse.Prefetch0(p + 256);
        Sse.Prefetch0(p + 320);
        Sse.Prefetch0(p + 384);
    }

    /// <summary>acc = fma(f32(lane), d·d_x, acc): one lane's float step per block, as llama.cpp's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fold(Vector512<float> acc, Vector512<float> ddx, Vector512<int> lane) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(lane), ddx, acc);

    /// <summary>llama.cpp's horizontal sum of its 8 lanes (<see cref="VectorMath.HSum(Vector256{float})"/>), per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sum8(Vector512<float> l0, Vector512<float> l1, Vector512<float> l2, Vector512<float> l3,
        Vector512<float> l4, Vector512<float> l5, Vector512<float> l6, Vector512<float> l7) =>
        ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));

    [SkipLocalsInit]
    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, ss = a.ScaleStride;
        nint cols = a.Cols, n16 = nb * 16;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref short bs0 = ref QuantMath.Sums16(a, t0);
        // Stack scratch through stackalloc (plain references; a struct local's address would be re-taken per use).
        ref Vector512<short> scales = ref MemoryMarshal.GetReference(stackalloc Vector512<short>[16]);
        ref Vector512<float> acc = ref MemoryMarshal.GetReference(stackalloc Vector512<float>[32]);
        for (int i = 0; i < 32; i++) Unsafe.Add(ref acc, i) = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            DuplicatedScales(ref blk, ref scales);
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var ddx0 = d * Vector512.Create(Unsafe.Add(ref d0, b));
            var ddx1 = d * Vector512.Create(Unsafe.Add(ref d0, ss + b));
            var ddx2 = d * Vector512.Create(Unsafe.Add(ref d0, 2 * ss + b));
            var ddx3 = d * Vector512.Create(Unsafe.Add(ref d0, 3 * ss + b));
            ref short sums = ref Unsafe.Add(ref bs0, 16 * b);
            ref sbyte x = ref Unsafe.Add(ref x0, 256 * b);
            ref Vector512<float> l = ref acc;
            ref byte step = ref Unsafe.Add(ref blk, Quants);
            ref byte pair = ref Unsafe.Add(ref blk, 64);
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            // A loop, not unrolled (the JIT inlines one lane's body, not eight), walking references so that
            // the lane's addresses are constant offsets.
            for (int s = 0; s < 8; s++)
            {
                Prefetch(ref ahead, 7 * s);
                // One unpack of step s feeds the four tokens.
                Unpack(ref step, out var e0, out var e1, out var e2, out var e3);
                Unpack(ref Unsafe.Add(ref step, 8 * StepBytes), out var g0, out var g1, out var g2, out var g3);
                ref Vector512<short> sc = ref Unsafe.Add(ref scales, s >> 2);
                l = Fold(l, ddx0, Lane(ref pair, ref sc, ref x, ref sums, e0, e1, e2, e3, g0, g1, g2, g3));
                Unsafe.Add(ref l, 8) = Fold(Unsafe.Add(ref l, 8), ddx1,
                    Lane(ref pair, ref sc, ref Unsafe.Add(ref x, cols), ref Unsafe.Add(ref sums, n16), e0, e1, e2, e3, g0, g1, g2, g3));
                Unsafe.Add(ref l, 16) = Fold(Unsafe.Add(ref l, 16), ddx2,
                    Lane(ref pair, ref sc, ref Unsafe.Add(ref x, 2 * cols), ref Unsafe.Add(ref sums, 2 * n16), e0, e1, e2, e3, g0, g1, g2, g3));
                Unsafe.Add(ref l, 24) = Fold(Unsafe.Add(ref l, 24), ddx3,
                    Lane(ref pair, ref sc, ref Unsafe.Add(ref x, 3 * cols), ref Unsafe.Add(ref sums, 3 * n16), e0, e1, e2, e3, g0, g1, g2, g3));
                l = ref Unsafe.Add(ref l, 1);
                step = ref Unsafe.Add(ref step, StepBytes);
                pair = ref Unsafe.Add(ref pair, 32);
                x = ref Unsafe.Add(ref x, 4);
                sums = ref Unsafe.Add(ref sums, 2);
            }
        }
        for (int t = 0; t < 4; t++)
        {
            ref Vector512<float> l = ref Unsafe.Add(ref acc, 8 * t);
            Sum8(l, Unsafe.Add(ref l, 1), Unsafe.Add(ref l, 2), Unsafe.Add(ref l, 3), Unsafe.Add(ref l, 4), Unsafe.Add(ref l, 5), Unsafe.Add(ref l, 6), Unsafe.Add(ref l, 7))
                .StoreUnsafe(ref tile, (nuint)(16 * t));
        }
    }

    [SkipLocalsInit]
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref short bs = ref QuantMath.Sums16(a, t);
        ref Vector512<short> scales = ref MemoryMarshal.GetReference(stackalloc Vector512<short>[16]);
        Vector512<float> l0 = default, l1 = default, l2 = default, l3 = default, l4 = default, l5 = default, l6 = default, l7 = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            DuplicatedScales(ref blk, ref scales);
            var ddx = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(Unsafe.Add(ref dx, b));
            ref short sums = ref Unsafe.Add(ref bs, 16 * b);
            ref sbyte xb = ref Unsafe.Add(ref x, 256 * b);
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            Prefetch(ref ahead, 7 * 0);
            l0 = Fold(l0, ddx, Lane(ref blk, ref scales, 0, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 1);
            l1 = Fold(l1, ddx, Lane(ref blk, ref scales, 1, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 2);
            l2 = Fold(l2, ddx, Lane(ref blk, ref scales, 2, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 3);
            l3 = Fold(l3, ddx, Lane(ref blk, ref scales, 3, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 4);
            l4 = Fold(l4, ddx, Lane(ref blk, ref scales, 4, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 5);
            l5 = Fold(l5, ddx, Lane(ref blk, ref scales, 5, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 6);
            l6 = Fold(l6, ddx, Lane(ref blk, ref scales, 6, ref xb, ref sums));
            Prefetch(ref ahead, 7 * 7);
            l7 = Fold(l7, ddx, Lane(ref blk, ref scales, 7, ref xb, ref sums));
        }
        Sum8(l0, l1, l2, l3, l4, l5, l6, l7).StoreUnsafe(ref tile);
    }
}
