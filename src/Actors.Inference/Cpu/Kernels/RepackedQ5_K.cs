using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q5_K weights repacked at load for a tile of 16 rows × 4 tokens (and 16 rows × 1), one row per 32-bit lane
/// of a 512-bit vector, as <see cref="RepackedQ6_K"/>: the 5-bit values are rebuilt per step from the nibbles
/// and the qh plane (GFNI moves each high bit to bit 4), multiplied unsigned (0..31) with vpmaddubsw, and
/// vpmaddwd applies each 32-value sub-block's scale (duplicated in both int16 halves of a row's lane). The
/// result is the row kernel's (<see cref="SuperBlockKernel{T}"/> of <see cref="Q5_KDecoder"/>, llama.cpp's AVX2
/// vec_dot, which its AVX-512 build runs for Q5_K) bit for bit: per row and token its 8 int32 lanes, lane k =
/// columns 4k..4k+3 of every 32, each folded into its own f32 accumulator block after block; the mins in one
/// scalar FMA chain per row.
/// </summary>
/// <remarks>
/// Per group of 16 rows and super-block b (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32); 64..127: dmin (f32);</item>
/// <item>128..255: the 6-bit scales, sub-block j at 128 + 16j + row (bytes);</item>
/// <item>256..383: the 6-bit mins in pairs, pair p at 256 + 32p + 2·row (bytes m_2p, m_2p+1; widened to int16 for vpmaddwd);</item>
/// <item>384 + 320k (step k = lane k): 64 bytes of qh[4k..4k+3] of rows 0..15, then for c = 0..3 64 bytes of
/// qs[32c + 4k..] (low nibbles: columns 64c + 4k.., sub-block 2c, high bit = qh bit 2c; high nibbles: 64c + 32 + 4k..,
/// sub-block 2c + 1, qh bit 2c + 1).</item>
/// </list>
/// Per (row, token) the float work is the row kernel's, the same in both tiles: lane_k = fma(f32(L_k), d·d_x, lane_k)
/// and summs = fma(−(d_x·dmin), f32(Σ m·Σx), summs) block after block, then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)) + summs.
/// </remarks>
internal sealed class RepackedQ5_K : RepackedWeights
{
    public const int BlockBytes = Steps + 8 * StepBytes;
    private const int Steps = 384, StepBytes = 320;
    private const int SourceBlockBytes = 176;

    public int Blocks { get; }

    public static bool IsSupported => KernelDispatch.Best == KernelPath.Avx512 && Gfni.V512.IsSupported;

    private RepackedQ5_K(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    // Fully optimized from the first call: a model's load runs this once per matrix, too few calls for tiering
    // to promote it, and tier-0 vector code is ten times slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe RepackedQ5_K? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q5_K) throw new ArgumentException($"{w} is not Q5_K", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ5_K(w.Rows, blocks);
        int rb = w.RowBytes;
        Unsafe.SkipInit(out RepackedQ6_K.Rows16 m);
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var span = w.RowSpan(g * GroupRows, rows);
            ref byte src = ref MemoryMarshal.GetReference(span);
            ref byte dst = ref r.Group(g);
            fixed (byte* pinned = span) // Header reads through a pointer
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                ref byte sb0 = ref Unsafe.Add(ref src, b * SourceBlockBytes);
                if (rows == GroupRows && Avx512Vbmi.IsSupported)
                    RepackedQ4_K.Header(pinned + b * SourceBlockBytes, rb, ref blk);
                else for (int row = 0; row < GroupRows; row++)
                {
                    // Padding rows: d, dmin, every scale, min and value 0, so they add exactly zero.
                    bool pad = row >= rows;
                    ref byte sb = ref Unsafe.Add(ref sb0, (nint)row * rb);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), pad ? 0f : (float)BitConverter.UInt16BitsToHalf(Unsafe.ReadUnaligned<ushort>(ref sb)));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 4 * row), pad ? 0f : (float)BitConverter.UInt16BitsToHalf(Unsafe.ReadUnaligned<ushort>(ref Unsafe.Add(ref sb, 2))));
                    ulong sc = 0, mn = 0;
                    if (!pad) QuantMath.UnpackQ4KScales(ref Unsafe.Add(ref sb, 4), out sc, out mn);
                    for (int j = 0; j < 8; j++) Unsafe.Add(ref blk, 128 + 16 * j + row) = (byte)(sc >> (8 * j));
                    for (int p = 0; p < 4; p++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 256 + 32 * p + 2 * row), (ushort)(mn >> (16 * p)));
                }
                // qh and qs as 16-dword columns of the 16 rows (a 16 × 16 dword transpose per 64 source bytes):
                // source dword 4 + i of a block is qh[4i..] for i < 8, else qs dword i − 8 (chunk c = (i − 8) / 8, step (i − 8) % 8).
                for (int part = 0; part < 3; part++)
                {
                    int offset = part switch { 0 => 16, 1 => 80, _ => 112 }; // dwords 4..19, 20..35, 28..43 (the last overlaps, stays in the block)
                    for (int row = 0; row < GroupRows; row++)
                        m[row] = row < rows ? Vector512.LoadUnsafe(ref Unsafe.Add(ref sb0, (nint)row * rb + offset)).AsInt32() : default;
                    RepackedQ6_K.Transpose(ref m);
                    for (int i = part == 2 ? 8 : 0; i < 16; i++)
                    {
                        int dword = offset / 4 - 4 + i; // 0..7 qh, 8..39 qs
                        int at = dword < 8 ? StepBytes * dword : StepBytes * ((dword - 8) % 8) + 64 + 64 * ((dword - 8) / 8);
                        m[i].AsByte().StoreUnsafe(ref Unsafe.Add(ref blk, Steps + at));
                    }
                }
            }
        }
        return r;
    }

    /// <summary>A GF(2) affine matrix (gf2p8affineqb: output bit i takes the input bits named by byte 7 − i) putting qh bit <paramref name="b"/> at bit 4, nothing else.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> HighBit(int b) => Vector512.Create((ulong)(1 << b) << 24).AsByte();

    /// <summary>(a &amp; c) | b, one vpternlogd.</summary>
    private const byte AndOr = 0xEC;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> X4(ref sbyte x, int offset) => Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    /// <summary>sc·(Σ of a lane's 4 products), <paramref name="scale"/> holding sc in both int16 halves (vpmaddubsw's pairs ≤ 2·31·128: exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Scaled(Vector512<byte> w, Vector512<sbyte> x, Vector512<short> scale) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(w, x), scale);

    /// <summary>Sub-block <paramref name="j"/>'s scale of the 16 rows in both int16 halves of each row's lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Scale(ref byte blk, int j)
    {
        var s = Avx512F.ConvertToVector512UInt32(Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 128 + 16 * j)));
        return (s | (s << 16)).AsInt16();
    }

    /// <summary>The low-nibble (sub-block 2c) and high-nibble (2c + 1) values of chunk c at one step, for the 16 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Values(Vector512<byte> q, Vector512<byte> h, int c, out Vector512<byte> lo, out Vector512<byte> hi)
    {
        var m4 = Vector512.Create((byte)0x0F);
        lo = Avx512F.TernaryLogic(q, Gfni.V512.GaloisFieldAffineTransform(h, HighBit(2 * c), 0), m4, AndOr);
        hi = Avx512F.TernaryLogic((q.AsUInt16() >> 4).AsByte(), Gfni.V512.GaloisFieldAffineTransform(h, HighBit(2 * c + 1), 0), m4, AndOr);
    }

    /// <summary>Σ m_j·Σx_j of the 16 rows for one token's block, <paramref name="pairs"/> its four pair sums (int16 halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Mins(ref byte blk, ref int pairs) =>
        (MinPair(ref blk, 0, pairs) + MinPair(ref blk, 1, Unsafe.Add(ref pairs, 1)))
        + (MinPair(ref blk, 2, Unsafe.Add(ref pairs, 2)) + MinPair(ref blk, 3, Unsafe.Add(ref pairs, 3)));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> MinPair(ref byte blk, int p, int sums) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 256 + 32 * p))).AsInt16(), Vector512.Create(sums).AsInt16());

    /// <summary>summs = fma(−(d_x·dmin), f32(msum), summs): the row kernel's scalar chain, 16 rows at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> FoldMins(Vector512<float> summs, ref byte blk, float dx, Vector512<int> msum) =>
        Vector512.FusedMultiplyAdd(-(Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64))) * Vector512.Create(dx)), Vector512.ConvertToSingle(msum), summs);

    /// <summary>acc = fma(f32(lane), d·d_x, acc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fold(Vector512<float> acc, Vector512<float> ddx, Vector512<int> lane) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(lane), ddx, acc);

    /// <summary>The row kernel's horizontal sum of its 8 lanes (<see cref="VectorMath.HSum(Vector256{float})"/>), then + summs, per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sum8(Vector512<float> l0, Vector512<float> l1, Vector512<float> l2, Vector512<float> l3,
        Vector512<float> l4, Vector512<float> l5, Vector512<float> l6, Vector512<float> l7, Vector512<float> summs) =>
        (((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))) + summs;

    /// <summary>Blocks ahead that the tiles prefetch (a block is 46 cache lines).</summary>
    private const int PrefetchBlocks = 4;

    protected override int Tile1PrefetchBytes => PrefetchBlocks * BlockBytes;

    /// <summary>Prefetches 6 cache lines from line <paramref name="line"/> of <paramref name="block"/> (a hint: past the array's end is harmless).</summary>
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
    }

    /// <summary>The 8 value vectors of step k for the 16 rows: chunk c's low-nibble (sub-block 2c) and high-nibble (2c + 1) values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(ref byte step, out Vector512<byte> lo0, out Vector512<byte> hi0, out Vector512<byte> lo1, out Vector512<byte> hi1,
        out Vector512<byte> lo2, out Vector512<byte> hi2, out Vector512<byte> lo3, out Vector512<byte> hi3)
    {
        var h = Vector512.LoadUnsafe(ref step);
        Values(Vector512.LoadUnsafe(ref step, 64), h, 0, out lo0, out hi0);
        Values(Vector512.LoadUnsafe(ref step, 128), h, 1, out lo1, out hi1);
        Values(Vector512.LoadUnsafe(ref step, 192), h, 2, out lo2, out hi2);
        Values(Vector512.LoadUnsafe(ref step, 256), h, 3, out lo3, out hi3);
    }

    /// <summary>Lane k of the 16 rows for one token from step k's values: Σ_j sc_j·(columns 32j + 4k..32j + 4k + 3 of q·x), x at column 4k.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Lane(ref Vector512<short> sc, ref sbyte x,
        Vector512<byte> lo0, Vector512<byte> hi0, Vector512<byte> lo1, Vector512<byte> hi1,
        Vector512<byte> lo2, Vector512<byte> hi2, Vector512<byte> lo3, Vector512<byte> hi3) =>
        ((Scaled(lo0, X4(ref x, 0), sc) + Scaled(hi0, X4(ref x, 32), Unsafe.Add(ref sc, 1)))
         + (Scaled(lo1, X4(ref x, 64), Unsafe.Add(ref sc, 2)) + Scaled(hi1, X4(ref x, 96), Unsafe.Add(ref sc, 3))))
        + ((Scaled(lo2, X4(ref x, 128), Unsafe.Add(ref sc, 4)) + Scaled(hi2, X4(ref x, 160), Unsafe.Add(ref sc, 5)))
         + (Scaled(lo3, X4(ref x, 192), Unsafe.Add(ref sc, 6)) + Scaled(hi3, X4(ref x, 224), Unsafe.Add(ref sc, 7))));

    /// <summary>Lane k with its step unpacked here (one token).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Lane(ref byte step, ref Vector512<short> sc, ref sbyte x)
    {
        Unpack(ref step, out var lo0, out var hi0, out var lo1, out var hi1, out var lo2, out var hi2, out var lo3, out var hi3);
        return Lane(ref sc, ref x, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void LoadScales(ref byte blk, ref Vector512<short> scales)
    {
        for (int j = 0; j < 8; j++) Unsafe.Add(ref scales, j) = Scale(ref blk, j);
    }

    [SkipLocalsInit]
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref int p0 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t * nb * 4);
        ref Vector512<short> scales = ref MemoryMarshal.GetReference(stackalloc Vector512<short>[8]);
        Vector512<float> l0 = default, l1 = default, l2 = default, l3 = default, l4 = default, l5 = default, l6 = default, l7 = default, summs = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            LoadScales(ref blk, ref scales);
            float dxb = Unsafe.Add(ref dx, b);
            var ddx = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(dxb);
            ref sbyte xb = ref Unsafe.Add(ref x, 256 * b);
            ref byte st = ref Unsafe.Add(ref blk, Steps);
            Prefetch(ref ahead, 0);
            l0 = Fold(l0, ddx, Lane(ref st, ref scales, ref xb));
            Prefetch(ref ahead, 6);
            l1 = Fold(l1, ddx, Lane(ref Unsafe.Add(ref st, StepBytes), ref scales, ref Unsafe.Add(ref xb, 4)));
            Prefetch(ref ahead, 12);
            l2 = Fold(l2, ddx, Lane(ref Unsafe.Add(ref st, 2 * StepBytes), ref scales, ref Unsafe.Add(ref xb, 8)));
            Prefetch(ref ahead, 18);
            l3 = Fold(l3, ddx, Lane(ref Unsafe.Add(ref st, 3 * StepBytes), ref scales, ref Unsafe.Add(ref xb, 12)));
            Prefetch(ref ahead, 24);
            l4 = Fold(l4, ddx, Lane(ref Unsafe.Add(ref st, 4 * StepBytes), ref scales, ref Unsafe.Add(ref xb, 16)));
            Prefetch(ref ahead, 30);
            l5 = Fold(l5, ddx, Lane(ref Unsafe.Add(ref st, 5 * StepBytes), ref scales, ref Unsafe.Add(ref xb, 20)));
            Prefetch(ref ahead, 36);
            l6 = Fold(l6, ddx, Lane(ref Unsafe.Add(ref st, 6 * StepBytes), ref scales, ref Unsafe.Add(ref xb, 24)));
            Prefetch(ref ahead, 40);
            l7 = Fold(l7, ddx, Lane(ref Unsafe.Add(ref st, 7 * StepBytes), ref scales, ref Unsafe.Add(ref xb, 28)));
            summs = FoldMins(summs, ref blk, dxb, Mins(ref blk, ref Unsafe.Add(ref p0, 4 * b)));
        }
        Sum8(l0, l1, l2, l3, l4, l5, l6, l7, summs).StoreUnsafe(ref tile);
    }

    [SkipLocalsInit]
    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, ss = a.ScaleStride;
        nint cols = a.Cols;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref int p0 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t0 * nb * 4);
        // Stack scratch through stackalloc (plain references; a struct local's address would be re-taken per use):
        // the 8 lanes of token k at acc[8k..], its mins at acc[32 + k].
        ref Vector512<short> scales = ref MemoryMarshal.GetReference(stackalloc Vector512<short>[8]);
        ref Vector512<float> acc = ref MemoryMarshal.GetReference(stackalloc Vector512<float>[36]);
        for (int i = 0; i < 36; i++) Unsafe.Add(ref acc, i) = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            LoadScales(ref blk, ref scales);
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            float e0 = Unsafe.Add(ref d0, b), e1 = Unsafe.Add(ref d0, ss + b), e2 = Unsafe.Add(ref d0, 2 * ss + b), e3 = Unsafe.Add(ref d0, 3 * ss + b);
            var ddx0 = d * Vector512.Create(e0);
            var ddx1 = d * Vector512.Create(e1);
            var ddx2 = d * Vector512.Create(e2);
            var ddx3 = d * Vector512.Create(e3);
            ref sbyte x = ref Unsafe.Add(ref x0, 256 * b);
            ref byte step = ref Unsafe.Add(ref blk, Steps);
            ref Vector512<float> l = ref acc;
            // A loop, not unrolled (the JIT inlines one step's body, not eight), walking references so that
            // the step's addresses are constant offsets.
            for (int k = 0; k < 8; k++)
            {
                Prefetch(ref ahead, 6 * k);
                // One unpack of the step feeds the four tokens.
                Unpack(ref step, out var lo0, out var hi0, out var lo1, out var hi1, out var lo2, out var hi2, out var lo3, out var hi3);
                var s0 = Lane(ref scales, ref x, lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3);
                var s1 = Lane(ref scales, ref Unsafe.Add(ref x, cols), lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3);
                var s2 = Lane(ref scales, ref Unsafe.Add(ref x, 2 * cols), lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3);
                var s3 = Lane(ref scales, ref Unsafe.Add(ref x, 3 * cols), lo0, hi0, lo1, hi1, lo2, hi2, lo3, hi3);
                l = Fold(l, ddx0, s0);
                Unsafe.Add(ref l, 8) = Fold(Unsafe.Add(ref l, 8), ddx1, s1);
                Unsafe.Add(ref l, 16) = Fold(Unsafe.Add(ref l, 16), ddx2, s2);
                Unsafe.Add(ref l, 24) = Fold(Unsafe.Add(ref l, 24), ddx3, s3);
                l = ref Unsafe.Add(ref l, 1);
                step = ref Unsafe.Add(ref step, StepBytes);
                x = ref Unsafe.Add(ref x, 4);
            }
            ref int pairs = ref Unsafe.Add(ref p0, 4 * b);
            nint pt = nb * 4;
            Unsafe.Add(ref acc, 32) = FoldMins(Unsafe.Add(ref acc, 32), ref blk, e0, Mins(ref blk, ref pairs));
            Unsafe.Add(ref acc, 33) = FoldMins(Unsafe.Add(ref acc, 33), ref blk, e1, Mins(ref blk, ref Unsafe.Add(ref pairs, pt)));
            Unsafe.Add(ref acc, 34) = FoldMins(Unsafe.Add(ref acc, 34), ref blk, e2, Mins(ref blk, ref Unsafe.Add(ref pairs, 2 * pt)));
            Unsafe.Add(ref acc, 35) = FoldMins(Unsafe.Add(ref acc, 35), ref blk, e3, Mins(ref blk, ref Unsafe.Add(ref pairs, 3 * pt)));
        }
        for (int t = 0; t < 4; t++)
        {
            ref Vector512<float> l = ref Unsafe.Add(ref acc, 8 * t);
            Sum8(l, Unsafe.Add(ref l, 1), Unsafe.Add(ref l, 2), Unsafe.Add(ref l, 3), Unsafe.Add(ref l, 4), Unsafe.Add(ref l, 5), Unsafe.Add(ref l, 6), Unsafe.Add(ref l, 7),
                Unsafe.Add(ref acc, 32 + t)).StoreUnsafe(ref tile, (nuint)(16 * t));
        }
    }
}
