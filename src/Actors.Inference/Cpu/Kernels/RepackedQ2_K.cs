using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q2_K weights repacked at load for a tile of 16 rows × 4 tokens (and 16 rows × 1), one row per 32-bit lane of a
/// 512-bit vector. The row kernel (<see cref="SuperBlockKernel{T}"/> with <see cref="Q2_KDecoder"/>) follows
/// llama.cpp's repacked Q2_K kernels: per (row, token) and block the exact integers Σ sc·q·x and Σ m·Σx, each
/// folded into its own f32 chain, fma(f32(int), d·d_x, acc), once per block in the one-token order (its gemv) and
/// once per 128 values in the batch order (its gemm, <see cref="TileBatch"/>); y = acc − mins. The integers here
/// are the same, so are the float operations, in the same order: the results are the row kernel's bit for bit.
/// </summary>
/// <remarks>
/// Per group of 16 rows and super-block (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32); 64..127: dmin (f32);</item>
/// <item>128 + 64q + 4·row + j: the scale byte (scale low nibble, min high nibble) of sub-block 4q + j (the row's
/// dword q of scales), so each 128-bit lane holds its 4 rows' bytes and one vpshufb spreads a sub-block's scale (or
/// a pair of mins) over the rows' int16 lanes;</item>
/// <item>384 + 64i + 4·row: dword i of the row's qs (a 16 × 16 dword transpose). Dword i = 8n + s holds, at bits
/// 2k..2k+1 of its 4 bytes, columns 128n + 32k + 4s + (0..3), of sub-block 8n + 2k + (s ≥ 4): one gf2p8affineqb
/// extracts them, vpmaddubsw multiplies them (0..3, unsigned) with the broadcast activations.</item>
/// </list>
/// Four steps of one sub-block add their vpmaddubsw pairs in int16 (|·| ≤ 4·2·3·128) before vpmaddwd applies the
/// sub-block's scale; the mins go through vpmaddwd with the activations' 16-value sums, a pair at a time.
/// </remarks>
internal sealed class RepackedQ2_K : RepackedWeights
{
    public const int BlockBytes = Steps + 16 * StepBytes;
    private const int ScaleBytes = 128, Steps = 384, StepBytes = 64;
    private const int SourceBlockBytes = 84;

    public int Blocks { get; }

    public static bool IsSupported => KernelDispatch.Best == KernelPath.Avx512 && Gfni.V512.IsSupported;

    private RepackedQ2_K(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    protected override bool HasBatchOrder => true;

    // Fully optimized from the first call: a model's load runs this once per matrix, too few calls for tiering.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static RepackedQ2_K? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q2_K) throw new ArgumentException($"{w} is not Q2_K", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ2_K(w.Rows, blocks);
        int rb = w.RowBytes;
        Unsafe.SkipInit(out RepackedQ6_K.Rows16 m);
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            ref byte src = ref MemoryMarshal.GetReference(w.RowSpan(g * GroupRows, rows));
            ref byte dst = ref r.Group(g);
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                ref byte sb0 = ref Unsafe.Add(ref src, b * SourceBlockBytes);
                // Two 16 × 16 dword transposes of the 16 rows (padding rows zero: every scale, min, value, d and dmin 0,
                // so they add exactly zero): source dwords 0..15 (scales, qs dwords 0..11), then 5..20 (qs dwords 1..15, d | dmin).
                for (int row = 0; row < GroupRows; row++)
                    m[row] = row < rows ? Vector512.LoadUnsafe(ref Unsafe.Add(ref sb0, (nint)row * rb)).AsInt32() : default;
                RepackedQ6_K.Transpose(ref m);
                for (int i = 0; i < 4; i++) m[i].AsByte().StoreUnsafe(ref Unsafe.Add(ref blk, ScaleBytes + 64 * i));
                for (int i = 4; i < 16; i++) m[i].AsByte().StoreUnsafe(ref Unsafe.Add(ref blk, Steps + StepBytes * (i - 4)));
                for (int row = 0; row < GroupRows; row++)
                    m[row] = row < rows ? Vector512.LoadUnsafe(ref Unsafe.Add(ref sb0, (nint)row * rb + 20)).AsInt32() : default;
                RepackedQ6_K.Transpose(ref m);
                for (int i = 11; i < 15; i++) m[i].AsByte().StoreUnsafe(ref Unsafe.Add(ref blk, Steps + StepBytes * (i + 1)));
                var halves = m[15].AsUInt32();
                HalfConversion.ToSingle(halves & Vector512.Create(0xFFFFu)).StoreUnsafe(ref Unsafe.As<byte, float>(ref blk));
                HalfConversion.ToSingle(halves >> 16).StoreUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64)));
            }
        }
        return r;
    }

    /// <summary>gf2p8affineqb's matrix moving bits 2k, 2k+1 of each byte to bits 0, 1 (output bit i takes the input bits named by byte 7 − i).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> TwoBits(int k) => Vector512.Create(((1UL << (2 * k)) << 56) | ((1UL << (2 * k + 1)) << 48)).AsByte();

    /// <summary>
    /// A vpshufb index that puts, in each row's dword (rr = 0..3 of the 128-bit lane), byte 4rr + <paramref name="lo"/>
    /// in the low int16 and byte 4rr + <paramref name="hi"/> in the high one, zero-extended.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Pick(uint lo, uint hi)
    {
        uint a = (0x8000 | lo) | ((0x8000 | hi) << 16), one = 0x40004;
        return Vector512.Create(a, a + one, a + 2 * one, a + 3 * one, a, a + one, a + 2 * one, a + 3 * one,
            a, a + one, a + 2 * one, a + 3 * one, a, a + one, a + 2 * one, a + 3 * one).AsByte();
    }

    /// <summary>Sub-block 4q + <paramref name="j"/>'s scale of the 16 rows in both int16 halves of each row's lane, from quad q's scale nibbles.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Scale(Vector512<byte> scales, int j) => Avx512BW.Shuffle(scales, Pick((uint)j, (uint)j)).AsInt16();

    /// <summary>The mins of sub-blocks 4q + 2p and 4q + 2p + 1 (p = 0, 1) of the 16 rows as the int16 halves of each row's lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> MinPair(Vector512<byte> mins, int p) => Avx512BW.Shuffle(mins, Pick((uint)(2 * p), (uint)(2 * p + 1))).AsInt16();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Quad(ref byte blk, int q) => Vector512.LoadUnsafe(ref blk, (nuint)(ScaleBytes + 64 * q));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> LowNibbles(Vector512<byte> v) => v & Vector512.Create((byte)15);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> HighNibbles(Vector512<byte> v) => Gfni.V512.GaloisFieldAffineTransform(v, Vector512.Create(QuantMath.HighNibbleMatrix).AsByte(), 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<sbyte> X4(ref sbyte x, int offset) => Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    /// <summary>A token's 16-value sums of sub-blocks 2p', 2p'+1 (two int16 in one dword) broadcast to every row's lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> S2(ref short s, int offset) => Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref s, offset)))).AsInt16();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Values(ref byte step, int s, Vector512<byte> matrix) =>
        Gfni.V512.GaloisFieldAffineTransform(Vector512.LoadUnsafe(ref step, (nuint)(StepBytes * s)), matrix, 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<short> Products(Vector512<byte> w, ref sbyte x, int offset) => Avx512BW.MultiplyAddAdjacent(w, X4(ref x, offset));

    /// <summary>
    /// Σ sc·q·x of one token over the 32 columns of one 2-bit plane k of half n (sub-blocks 8n + 2k and 8n + 2k + 1):
    /// the 8 value vectors w0..w7 (steps 8n + s), <paramref name="x"/> at column 128n + 32k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Plane(ref sbyte x, Vector512<short> scLo, Vector512<short> scHi,
        Vector512<byte> w0, Vector512<byte> w1, Vector512<byte> w2, Vector512<byte> w3,
        Vector512<byte> w4, Vector512<byte> w5, Vector512<byte> w6, Vector512<byte> w7) =>
        Avx512BW.MultiplyAddAdjacent((Products(w0, ref x, 0) + Products(w1, ref x, 4)) + (Products(w2, ref x, 8) + Products(w3, ref x, 12)), scLo)
        + Avx512BW.MultiplyAddAdjacent((Products(w4, ref x, 16) + Products(w5, ref x, 20)) + (Products(w6, ref x, 24) + Products(w7, ref x, 28)), scHi);

    /// <summary>Plane k of half n for one token, its values extracted here (<paramref name="step"/> at step 8n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Plane(ref byte step, Vector512<byte> matrix, ref sbyte x, Vector512<short> scLo, Vector512<short> scHi) =>
        Plane(ref x, scLo, scHi, Values(ref step, 0, matrix), Values(ref step, 1, matrix), Values(ref step, 2, matrix), Values(ref step, 3, matrix),
            Values(ref step, 4, matrix), Values(ref step, 5, matrix), Values(ref step, 6, matrix), Values(ref step, 7, matrix));

    /// <summary>Blocks ahead that the tiles prefetch (a block is 22 cache lines).</summary>
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

    /// <summary>acc = fma(f32(sum), e, acc): one of llama.cpp's folds, 16 rows at once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fold(Vector512<float> acc, Vector512<int> sum, Vector512<float> e) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(sum), e, acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> D(ref byte blk) => Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> DMin(ref byte blk) => Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64)));

    /// <summary>The four planes' extraction matrices (<see cref="TwoBits"/>), once per call.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Matrices(ref Vector512<byte> m)
    {
        m = TwoBits(0);
        Unsafe.Add(ref m, 1) = TwoBits(1);
        Unsafe.Add(ref m, 2) = TwoBits(2);
        Unsafe.Add(ref m, 3) = TwoBits(3);
    }

    /// <remarks>
    /// Scales and mins are spread in registers per quad (constant vpshufb indices): written to a stack scratch once per
    /// block and read back at once, the 512-bit loads waited on their stores and the one-token tile ran 1.6x slower.
    /// </remarks>
    [SkipLocalsInit]
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref short s16 = ref QuantMath.Sums16(a, t);
        ref Vector512<byte> mats = ref MemoryMarshal.GetReference(stackalloc Vector512<byte>[4]);
        Matrices(ref mats);
        Vector512<float> acc = default, accM = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            ref sbyte xq = ref Unsafe.Add(ref x, 256 * b);
            ref short sq = ref Unsafe.Add(ref s16, 16 * b);
            ref byte step = ref Unsafe.Add(ref blk, Steps);
            Vector512<int> isum = default, msum = default;
            // Quad q = sub-blocks 4q..4q+3: planes k = 2(q & 1) and k + 1 of half n = q / 2, columns 64q..64q+63.
            for (int q = 0; q < 4; q++)
            {
                Prefetch(ref ahead, 6 * q);
                var quad = Quad(ref blk, q);
                var sc = LowNibbles(quad);
                ref Vector512<byte> mat = ref Unsafe.Add(ref mats, 2 * (q & 1));
                isum += Plane(ref step, mat, ref xq, Scale(sc, 0), Scale(sc, 1))
                      + Plane(ref step, Unsafe.Add(ref mat, 1), ref Unsafe.Add(ref xq, 32), Scale(sc, 2), Scale(sc, 3));
                var mn = HighNibbles(quad);
                msum += QuadMins(MinPair(mn, 0), MinPair(mn, 1), ref sq);
                if ((q & 1) == 1) step = ref Unsafe.Add(ref step, 8 * StepBytes);
                xq = ref Unsafe.Add(ref xq, 64);
                sq = ref Unsafe.Add(ref sq, 4);
            }
            float dxb = Unsafe.Add(ref dx, b);
            acc = Fold(acc, isum, D(ref blk) * Vector512.Create(dxb));
            accM = Fold(accM, msum, DMin(ref blk) * Vector512.Create(dxb));
        }
        (acc - accM).StoreUnsafe(ref tile);
    }

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        Span<int> t = [t0, t0 + 1, t0 + 2, t0 + 3];
        Tile4<OneTokenOrder>(ref grp, a, ref MemoryMarshal.GetReference(t), ref tile);
    }

    protected override void TileBatch(ref byte grp, PreparedActivations a, ref int t, ref float tile) => Tile4<BatchOrder>(ref grp, a, ref t, ref tile);

    private interface IOrder
    {
        /// <summary>Whether each half block (128 values) folds on its own (llama.cpp's gemm) rather than the whole block (its gemv).</summary>
        static abstract bool PerHalf { get; }
    }

    private readonly struct OneTokenOrder : IOrder
    {
        public static bool PerHalf => false;
    }

    private readonly struct BatchOrder : IOrder
    {
        public static bool PerHalf => true;
    }

    /// <summary>
    /// Rows 0..15 × tokens t[0..3] (any four, repeats allowed) into tile[16k + r]. The float accumulators live in
    /// the tile (values) and a stack scratch (mins), touched once per fold; the registers hold the values and sums.
    /// </summary>
    [SkipLocalsInit]
    private static unsafe void Tile4<TOrder>(ref byte grp, PreparedActivations a, ref int t, ref float tile) where TOrder : struct, IOrder
    {
        int nb = a.Blocks;
        int t0 = t, t1 = Unsafe.Add(ref t, 1), t2 = Unsafe.Add(ref t, 2), t3 = Unsafe.Add(ref t, 3);
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        nint dx1 = Unsafe.ByteOffset(ref x0, ref QuantMath.Quants(a, t1));
        nint dx2 = Unsafe.ByteOffset(ref x0, ref QuantMath.Quants(a, t2));
        nint dx3 = Unsafe.ByteOffset(ref x0, ref QuantMath.Quants(a, t3));
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref float d1 = ref QuantMath.Scales(a, t1);
        ref float d2 = ref QuantMath.Scales(a, t2);
        ref float d3 = ref QuantMath.Scales(a, t3);
        ref short s0 = ref QuantMath.Sums16(a, t0);
        nint ds1 = Unsafe.ByteOffset(ref s0, ref QuantMath.Sums16(a, t1)) / 2;
        nint ds2 = Unsafe.ByteOffset(ref s0, ref QuantMath.Sums16(a, t2)) / 2;
        nint ds3 = Unsafe.ByteOffset(ref s0, ref QuantMath.Sums16(a, t3)) / 2;
        ref Vector512<byte> mats = ref MemoryMarshal.GetReference(stackalloc Vector512<byte>[4]);
        Matrices(ref mats);
        // Token k's values accumulate in the tile at 16k, its mins at m + 16k; e + 16k holds d·d_x, e + 64 + 16k dmin·d_x.
        float* m = stackalloc float[64];
        float* e = stackalloc float[128];
        for (int k = 0; k < 4; k++)
        {
            Vector512<float>.Zero.StoreUnsafe(ref tile, (nuint)(16 * k));
            Vector512<float>.Zero.Store(m + 16 * k);
        }
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            var d = D(ref blk);
            var dmin = DMin(ref blk);
            float e0 = Unsafe.Add(ref d0, b), e1 = Unsafe.Add(ref d1, b), e2 = Unsafe.Add(ref d2, b), e3 = Unsafe.Add(ref d3, b);
            (d * Vector512.Create(e0)).Store(e); (d * Vector512.Create(e1)).Store(e + 16);
            (d * Vector512.Create(e2)).Store(e + 32); (d * Vector512.Create(e3)).Store(e + 48);
            (dmin * Vector512.Create(e0)).Store(e + 64); (dmin * Vector512.Create(e1)).Store(e + 80);
            (dmin * Vector512.Create(e2)).Store(e + 96); (dmin * Vector512.Create(e3)).Store(e + 112);
            ref sbyte xq = ref Unsafe.Add(ref x0, 256 * b);
            ref short sq = ref Unsafe.Add(ref s0, 16 * b);
            ref byte step = ref Unsafe.Add(ref blk, Steps);
            Vector512<int> i0 = default, i1 = default, i2 = default, i3 = default;
            Vector512<int> n0 = default, n1 = default, n2 = default, n3 = default;
            for (int q = 0; q < 4; q++)
            {
                Prefetch(ref ahead, 6 * q);
                var quad = Quad(ref blk, q);
                var sc = LowNibbles(quad);
                ref Vector512<byte> mat = ref Unsafe.Add(ref mats, 2 * (q & 1));
                // Planes k = 2(q & 1) and k + 1 of half q / 2: one extraction of each plane's 8 steps feeds the four tokens.
                Plane4(ref step, mat, ref xq, dx1, dx2, dx3, Scale(sc, 0), Scale(sc, 1), ref i0, ref i1, ref i2, ref i3);
                Plane4(ref step, Unsafe.Add(ref mat, 1), ref Unsafe.Add(ref xq, 32), dx1, dx2, dx3, Scale(sc, 2), Scale(sc, 3), ref i0, ref i1, ref i2, ref i3);
                var mn = HighNibbles(quad);
                var p0 = MinPair(mn, 0);
                var p1 = MinPair(mn, 1);
                n0 += QuadMins(p0, p1, ref sq);
                n1 += QuadMins(p0, p1, ref Unsafe.Add(ref sq, ds1));
                n2 += QuadMins(p0, p1, ref Unsafe.Add(ref sq, ds2));
                n3 += QuadMins(p0, p1, ref Unsafe.Add(ref sq, ds3));
                if ((q & 1) == 1)
                {
                    step = ref Unsafe.Add(ref step, 8 * StepBytes);
                    if (TOrder.PerHalf || q == 3)
                    {
                        FoldValues(ref tile, e, i0, i1, i2, i3);
                        FoldMins(m, e, n0, n1, n2, n3);
                        i0 = i1 = i2 = i3 = default;
                        n0 = n1 = n2 = n3 = default;
                    }
                }
                xq = ref Unsafe.Add(ref xq, 64);
                sq = ref Unsafe.Add(ref sq, 4);
            }
        }
        for (int k = 0; k < 4; k++)
            (Vector512.LoadUnsafe(ref tile, (nuint)(16 * k)) - Vector512.Load(m + 16 * k)).StoreUnsafe(ref tile, (nuint)(16 * k));
    }

    /// <summary>One plane for four tokens (x of token k at <paramref name="x"/> + dx_k bytes), its 8 steps extracted once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Plane4(ref byte step, Vector512<byte> mat, ref sbyte x, nint dx1, nint dx2, nint dx3, Vector512<short> lo, Vector512<short> hi,
        ref Vector512<int> i0, ref Vector512<int> i1, ref Vector512<int> i2, ref Vector512<int> i3)
    {
        var w0 = Values(ref step, 0, mat); var w1 = Values(ref step, 1, mat); var w2 = Values(ref step, 2, mat); var w3 = Values(ref step, 3, mat);
        var w4 = Values(ref step, 4, mat); var w5 = Values(ref step, 5, mat); var w6 = Values(ref step, 6, mat); var w7 = Values(ref step, 7, mat);
        i0 += Plane(ref x, lo, hi, w0, w1, w2, w3, w4, w5, w6, w7);
        i1 += Plane(ref Unsafe.AddByteOffset(ref x, dx1), lo, hi, w0, w1, w2, w3, w4, w5, w6, w7);
        i2 += Plane(ref Unsafe.AddByteOffset(ref x, dx2), lo, hi, w0, w1, w2, w3, w4, w5, w6, w7);
        i3 += Plane(ref Unsafe.AddByteOffset(ref x, dx3), lo, hi, w0, w1, w2, w3, w4, w5, w6, w7);
    }

    /// <summary>Σ m·Σx of one token over quad q's four sub-blocks, <paramref name="s"/> at the token's sums of sub-block 4q.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> QuadMins(Vector512<short> pair0, Vector512<short> pair1, ref short s) =>
        Avx512BW.MultiplyAddAdjacent(pair0, S2(ref s, 0)) + Avx512BW.MultiplyAddAdjacent(pair1, S2(ref s, 2));

    /// <summary>The four tokens' folds of values into the tile, e + 16k holding token k's d·d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FoldValues(ref float tile, float* e, Vector512<int> i0, Vector512<int> i1, Vector512<int> i2, Vector512<int> i3)
    {
        Fold(Vector512.LoadUnsafe(ref tile), i0, Vector512.Load(e)).StoreUnsafe(ref tile);
        Fold(Vector512.LoadUnsafe(ref tile, 16), i1, Vector512.Load(e + 16)).StoreUnsafe(ref tile, 16);
        Fold(Vector512.LoadUnsafe(ref tile, 32), i2, Vector512.Load(e + 32)).StoreUnsafe(ref tile, 32);
        Fold(Vector512.LoadUnsafe(ref tile, 48), i3, Vector512.Load(e + 48)).StoreUnsafe(ref tile, 48);
    }

    /// <summary>The four tokens' folds of mins into <paramref name="m"/>, e + 64 + 16k holding token k's dmin·d_x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FoldMins(float* m, float* e, Vector512<int> n0, Vector512<int> n1, Vector512<int> n2, Vector512<int> n3)
    {
        Fold(Vector512.Load(m), n0, Vector512.Load(e + 64)).Store(m);
        Fold(Vector512.Load(m + 16), n1, Vector512.Load(e + 80)).Store(m + 16);
        Fold(Vector512.Load(m + 32), n2, Vector512.Load(e + 96)).Store(m + 32);
        Fold(Vector512.Load(m + 48), n3, Vector512.Load(e + 112)).Store(m + 48);
    }
}
