using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q3_K weights repacked at load for a tile of 16 rows × 4 tokens (and 16 rows × 1), one row per 32-bit lane
/// of a 512-bit vector. The row kernel (<see cref="SuperBlockKernel{T}"/> with <see cref="Q3_KDecoder"/>,
/// llama.cpp's AVX2 vec_dot) keeps per row and token 8 int32 lanes, lane s = columns 4s..4s+3 of every 32, each
/// folded into its own f32 accumulator block after block, then a horizontal sum; step s of this layout is exactly
/// lane s, so the results are the row kernel's bit for bit.
/// </summary>
/// <remarks>
/// The signed values w = q − 4·(1 − h) (−4..3) go to vpmaddubsw's signed side against the activations made
/// unsigned (x + 128, one xor per block per token): pairs are at most 2·4·255, no int16 saturation, and the
/// +128 becomes a per-row constant, 128·Σ_lane sc·w, stored at repack and subtracted from each lane. Per group
/// of 16 rows and super-block (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32); 64..319: the scales (minus 32, int8) in pairs, sub-blocks 2p and 2p+1 of
/// a row at 64 + 32p + 2·row (as <see cref="RepackedQ6_K"/>);</item>
/// <item>320 + 32s + 2·row: int16 Σ sc·w over lane s of the row (|·| ≤ 8·32·16);</item>
/// <item>576 + 192s + 64j + 4·row + i, j = 0..2: three bytes per row and column 32g + 4s + i (i = 0..3) holding
/// the 3-bit codes c_g = q + 4h of the 8 column groups g (bit layout at <see cref="Code0"/>), each extracted and sign-adjusted
/// by one gf2p8affineqb (two groups straddle two bytes: one vpternlogd picks their bits first).</item>
/// </list>
/// Per (row, token) the float work is llama.cpp's, the same in both tiles: lane_s = fma(f32(L_s), d·d_x, lane_s)
/// block after block, then ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
/// </remarks>
internal sealed class RepackedQ3_K : RepackedWeights
{
    public const int BlockBytes = Quants + 8 * StepBytes;
    private const int Corrections = 320, Quants = 576, StepBytes = 192;
    private const int SourceBlockBytes = 110;

    // Byte P0: c0 at bits 0..2, c1 at 3..5, q of c6 at 6..7. P1: h of c6 at 0, bit 0 of c7's q at 1, c2 at 2..4,
    // c3 at 5..7. P2: c4 at 0..2, c5 at 3..5, bit 1 of c7's q at 6, h of c7 at 7.
    // GF(2) affine matrices (gf2p8affineqb; output bit i takes the input bits named by byte 7 − i), with the
    // constant 0xFC: out bits 0,1 = q, bits 2..7 = NOT h, i.e. the int8 value q − 4 + 4h.
    private const ulong Code0 = 0x0102040404040404; // bits 0,1,2
    private const ulong Code1 = 0x0810202020202020; // bits 3,4,5
    private const ulong Code2 = 0x0408101010101010; // bits 2,3,4
    private const ulong Code3 = 0x2040808080808080; // bits 5,6,7
    private const ulong Code6 = 0x4080010101010101; // bits 6,7 (q), 0 (h)
    private const ulong Code7 = 0x0240808080808080; // bits 1 (q0), 6 (q1), 7 (h)
    private const byte NotH = 0xFC;

    public int Blocks { get; }

    public static bool IsSupported => KernelDispatch.Best == KernelPath.Avx512 && Gfni.V512.IsSupported;

    private RepackedQ3_K(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    // Fully optimized from the first call: a model's load runs this once per matrix, too few calls for tiering.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    [SkipLocalsInit]
    public static RepackedQ3_K? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q3_K) throw new ArgumentException($"{w} is not Q3_K", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ3_K(w.Rows, blocks);
        int rb = w.RowBytes;
        // Per row and block, the three code bytes of column l = 4s + i (ggml's planes are indexed by l too: qs[l]
        // holds groups 0..3, qs[32 + l] groups 4..7, hmask[l] the 8 high bits) are bit moves of those three bytes.
        var p0q0 = Matrix([0, 1, -1, 2, 3, -1, -1, -1]); var p0h = Matrix([-1, -1, 0, -1, -1, 1, -1, -1]); var p0q1 = Matrix([-1, -1, -1, -1, -1, -1, 4, 5]);
        var p1q0 = Matrix([-1, -1, 4, 5, -1, 6, 7, -1]); var p1h = Matrix([6, -1, -1, -1, 2, -1, -1, 3]); var p1q1 = Matrix([-1, 6, -1, -1, -1, -1, -1, -1]);
        var p2h = Matrix([-1, -1, 4, -1, -1, 5, -1, 7]); var p2q1 = Matrix([0, 1, -1, 2, 3, -1, 7, -1]);
        var ones = Vector512.Create((byte)1);
        Span<uint> codes = stackalloc uint[24];
        Span<int> sums = stackalloc int[8];
        Span<ushort> pairs = stackalloc ushort[8];
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            ref byte src = ref MemoryMarshal.GetReference(w.RowSpan(g * GroupRows, rows));
            ref byte dst = ref r.Group(g);
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                for (int row = 0; row < GroupRows; row++)
                {
                    if (row >= rows)
                    {
                        // Padding rows: d = 0, every scale and offset 0: they add exactly zero (their codes are never read).
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), 0f);
                        for (int p = 0; p < 8; p++)
                        {
                            Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 32 * p + 2 * row), (ushort)0);
                            Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Corrections + 32 * p + 2 * row), (short)0);
                        }
                        for (int c = 0; c < 24; c++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Quants + 64 * c + 4 * row), 0u);
                        continue;
                    }
                    ref byte sb = ref Unsafe.Add(ref src, (nint)row * rb + b * SourceBlockBytes);
                    // The per-lane offsets Σ sc·w: the row kernel's lanes with every activation 1.
                    Q3_KDecoder.Decode512(ref sb, out var k);
                    var lanes = (Scaled(ones, k.W0, k.S0) + Scaled(ones, k.W1, k.S1)) + (Scaled(ones, k.W2, k.S2) + Scaled(ones, k.W3, k.S3));
                    (lanes.GetLower() + lanes.GetUpper()).StoreUnsafe(ref MemoryMarshal.GetReference(sums));
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), k.D);
                    Q3_KDecoder.Scales(ref Unsafe.Add(ref sb, 96)).AsUInt16().StoreUnsafe(ref MemoryMarshal.GetReference(pairs));
                    for (int p = 0; p < 8; p++)
                    {
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 32 * p + 2 * row), pairs[p]);
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Corrections + 32 * p + 2 * row), (short)sums[p]);
                    }
                    var h = Vector256.LoadUnsafe(ref sb);
                    var q0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref sb, 32));
                    var q1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref sb, 64));
                    ref byte cb = ref Unsafe.As<uint, byte>(ref MemoryMarshal.GetReference(codes));
                    (Move(q0, p0q0) | Move(h, p0h) | Move(q1, p0q1)).StoreUnsafe(ref cb);
                    (Move(q0, p1q0) | Move(h, p1h) | Move(q1, p1q1)).StoreUnsafe(ref cb, 32);
                    (Move(h, p2h) | Move(q1, p2q1)).StoreUnsafe(ref cb, 64);
                    // Dword s of code plane j (columns 4s..4s+3) to step s, plane j, this row.
                    for (int j = 0; j < 3; j++)
                        for (int s = 0; s < 8; s++)
                            Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Quants + StepBytes * s + 64 * j + 4 * row), codes[8 * j + s]);
                }
            }
        }
        return r;
    }

    /// <summary>
    /// gf2p8affineqb's matrix for a byte move: output bit i takes input bit <paramref name="from"/>[i] (−1: none),
    /// i.e. byte 7 − i of the matrix names it.
    /// </summary>
    private static Vector256<byte> Matrix(ReadOnlySpan<sbyte> from)
    {
        ulong m = 0;
        for (int i = 0; i < 8; i++)
            if (from[i] >= 0) m |= (1UL << from[i]) << (8 * (7 - i));
        return Vector256.Create(m).AsByte();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> Move(Vector256<byte> v, Vector256<byte> matrix) => Gfni.V256.GaloisFieldAffineTransform(v, matrix, 0);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> Gf(Vector512<byte> v, ulong matrix) => Gfni.V512.GaloisFieldAffineTransform(v, Vector512.Create(matrix).AsByte(), NotH);

    /// <summary>The eight signed value vectors (column group g = 0..7) of one step for the 16 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(ref byte step, out Vector512<sbyte> w0, out Vector512<sbyte> w1, out Vector512<sbyte> w2, out Vector512<sbyte> w3,
        out Vector512<sbyte> w4, out Vector512<sbyte> w5, out Vector512<sbyte> w6, out Vector512<sbyte> w7)
    {
        var p0 = Vector512.LoadUnsafe(ref step);
        var p1 = Vector512.LoadUnsafe(ref Unsafe.Add(ref step, 64));
        var p2 = Vector512.LoadUnsafe(ref Unsafe.Add(ref step, 128));
        var high = Vector512.Create((byte)0xC0);
        w0 = Gf(p0, Code0).AsSByte();
        w1 = Gf(p0, Code1).AsSByte();
        w2 = Gf(p1, Code2).AsSByte();
        w3 = Gf(p1, Code3).AsSByte();
        w4 = Gf(p2, Code0).AsSByte();
        w5 = Gf(p2, Code1).AsSByte();
        w6 = Gf(Vector512.ConditionalSelect(high, p0, p1), Code6).AsSByte();
        w7 = Gf(Vector512.ConditionalSelect(high, p2, p1), Code7).AsSByte();
    }

    /// <summary>Column group g's 4 activations of a step (unsigned, x + 128) broadcast to every row's lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<byte> X4(ref byte x, int offset) => Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.Add(ref x, offset))).AsByte();

    /// <summary>sc·Σ over a lane's 4 columns of w·(x + 128) (pairs exact in int16: |2·4·255| &lt; 2¹⁵).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Scaled(Vector512<byte> x, Vector512<sbyte> w, Vector512<short> scale) =>
        Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(x, w), scale);

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

    /// <summary>128·Σ sc·w of lane s for the 16 rows: what the +128 on the activations added to the lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Offset(ref byte blk, int s) =>
        Avx512F.ConvertToVector512Int32(Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, Corrections + 32 * s)).AsInt16()) << 7;

    /// <summary>
    /// Lane s of llama.cpp's Q3_K dot for the 16 rows and one token, before the offset: Σ over the 8 column
    /// groups of sc·Σ w·(x + 128). <paramref name="sc"/> is the scale of sub-block s/4 (group g's is 2g further),
    /// <paramref name="x"/> the token's unsigned activations at column 4s of the block.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Lane(ref Vector512<short> sc, ref byte x,
        Vector512<sbyte> w0, Vector512<sbyte> w1, Vector512<sbyte> w2, Vector512<sbyte> w3,
        Vector512<sbyte> w4, Vector512<sbyte> w5, Vector512<sbyte> w6, Vector512<sbyte> w7) =>
        ((Scaled(X4(ref x, 0), w0, sc) + Scaled(X4(ref x, 32), w1, Unsafe.Add(ref sc, 2)))
            + (Scaled(X4(ref x, 64), w2, Unsafe.Add(ref sc, 4)) + Scaled(X4(ref x, 96), w3, Unsafe.Add(ref sc, 6))))
        + ((Scaled(X4(ref x, 128), w4, Unsafe.Add(ref sc, 8)) + Scaled(X4(ref x, 160), w5, Unsafe.Add(ref sc, 10)))
            + (Scaled(X4(ref x, 192), w6, Unsafe.Add(ref sc, 12)) + Scaled(X4(ref x, 224), w7, Unsafe.Add(ref sc, 14))));

    /// <summary>A block's 256 activations of token <paramref name="x"/> plus 128 (as unsigned bytes) into <paramref name="dst"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unsigned(ref sbyte x, ref byte dst)
    {
        var bias = Vector512.Create((byte)0x80);
        ref byte s = ref Unsafe.As<sbyte, byte>(ref x);
        (Vector512.LoadUnsafe(ref s) ^ bias).StoreUnsafe(ref dst);
        (Vector512.LoadUnsafe(ref s, 64) ^ bias).StoreUnsafe(ref dst, 64);
        (Vector512.LoadUnsafe(ref s, 128) ^ bias).StoreUnsafe(ref dst, 128);
        (Vector512.LoadUnsafe(ref s, 192) ^ bias).StoreUnsafe(ref dst, 192);
    }

    /// <summary>Blocks ahead that the tiles prefetch (a block is 33 cache lines, read step by step).</summary>
    private const int PrefetchBlocks = 2;

    /// <summary>A one-token range starts by prefetching the blocks its tile's own prefetches skip.</summary>
    protected override int Tile1PrefetchBytes => PrefetchBlocks * BlockBytes;

    /// <summary>Prefetches 5 cache lines from line <paramref name="line"/> of <paramref name="block"/> (a hint: past the array's end is harmless).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Prefetch(ref byte block, int line)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref block) + 64 * line; // the repacked array is pinned
        Sse.Prefetch0(p);
        Sse.Prefetch0(p + 64);
        Sse.Prefetch0(p + 128);
        Sse.Prefetch0(p + 192);
        Sse.Prefetch0(p + 256);
    }

    /// <summary>acc = fma(f32(lane − offset), d·d_x, acc): one lane's float step per block, as llama.cpp's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fold(Vector512<float> acc, Vector512<float> ddx, Vector512<int> lane, Vector512<int> offset) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(lane - offset), ddx, acc);

    /// <summary>llama.cpp's horizontal sum of its 8 lanes (<see cref="VectorMath.HSum(Vector256{float})"/>), per row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Sum8(Vector512<float> l0, Vector512<float> l1, Vector512<float> l2, Vector512<float> l3,
        Vector512<float> l4, Vector512<float> l5, Vector512<float> l6, Vector512<float> l7) =>
        ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));

    [SkipLocalsInit]
    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, ss = a.ScaleStride;
        nint cols = a.Cols;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref float d0 = ref QuantMath.Scales(a, t0);
        // Stack scratch through stackalloc (plain references; a struct local's address would be re-taken per use).
        ref Vector512<short> scales = ref MemoryMarshal.GetReference(stackalloc Vector512<short>[16]);
        ref Vector512<float> acc = ref MemoryMarshal.GetReference(stackalloc Vector512<float>[32]);
        ref byte xu = ref Unsafe.As<Vector512<byte>, byte>(ref MemoryMarshal.GetReference(stackalloc Vector512<byte>[16]));
        for (int i = 0; i < 32; i++) Unsafe.Add(ref acc, i) = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            DuplicatedScales(ref blk, ref scales);
            ref sbyte xb = ref Unsafe.Add(ref x0, 256 * b);
            Unsigned(ref xb, ref xu);
            Unsigned(ref Unsafe.Add(ref xb, cols), ref Unsafe.Add(ref xu, 256));
            Unsigned(ref Unsafe.Add(ref xb, 2 * cols), ref Unsafe.Add(ref xu, 512));
            Unsigned(ref Unsafe.Add(ref xb, 3 * cols), ref Unsafe.Add(ref xu, 768));
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var ddx0 = d * Vector512.Create(Unsafe.Add(ref d0, b));
            var ddx1 = d * Vector512.Create(Unsafe.Add(ref d0, ss + b));
            var ddx2 = d * Vector512.Create(Unsafe.Add(ref d0, 2 * ss + b));
            var ddx3 = d * Vector512.Create(Unsafe.Add(ref d0, 3 * ss + b));
            ref Vector512<float> l = ref acc;
            ref byte step = ref Unsafe.Add(ref blk, Quants);
            ref byte x = ref xu;
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            // A loop, not unrolled (the JIT inlines one lane's body, not eight), walking references so that
            // the lane's addresses are constant offsets.
            for (int s = 0; s < 8; s++)
            {
                Prefetch(ref ahead, 5 * s);
                // One unpack of step s feeds the four tokens.
                Unpack(ref step, out var w0, out var w1, out var w2, out var w3, out var w4, out var w5, out var w6, out var w7);
                var offset = Offset(ref blk, s);
                ref Vector512<short> sc = ref Unsafe.Add(ref scales, s >> 2);
                l = Fold(l, ddx0, Lane(ref sc, ref x, w0, w1, w2, w3, w4, w5, w6, w7), offset);
                Unsafe.Add(ref l, 8) = Fold(Unsafe.Add(ref l, 8), ddx1, Lane(ref sc, ref Unsafe.Add(ref x, 256), w0, w1, w2, w3, w4, w5, w6, w7), offset);
                Unsafe.Add(ref l, 16) = Fold(Unsafe.Add(ref l, 16), ddx2, Lane(ref sc, ref Unsafe.Add(ref x, 512), w0, w1, w2, w3, w4, w5, w6, w7), offset);
                Unsafe.Add(ref l, 24) = Fold(Unsafe.Add(ref l, 24), ddx3, Lane(ref sc, ref Unsafe.Add(ref x, 768), w0, w1, w2, w3, w4, w5, w6, w7), offset);
                l = ref Unsafe.Add(ref l, 1);
                step = ref Unsafe.Add(ref step, StepBytes);
                x = ref Unsafe.Add(ref x, 4);
            }
        }
        for (int t = 0; t < 4; t++)
        {
            ref Vector512<float> l = ref Unsafe.Add(ref acc, 8 * t);
            Sum8(l, Unsafe.Add(ref l, 1), Unsafe.Add(ref l, 2), Unsafe.Add(ref l, 3), Unsafe.Add(ref l, 4), Unsafe.Add(ref l, 5), Unsafe.Add(ref l, 6), Unsafe.Add(ref l, 7))
                .StoreUnsafe(ref tile, (nuint)(16 * t));
        }
    }

    /// <summary>Lane s with its step unpacked here (one token), offset subtracted.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Step1(Vector512<float> acc, Vector512<float> ddx, ref byte blk, ref Vector512<short> scales, int s, ref byte x)
    {
        Unpack(ref Unsafe.Add(ref blk, Quants + StepBytes * s), out var w0, out var w1, out var w2, out var w3, out var w4, out var w5, out var w6, out var w7);
        return Fold(acc, ddx, Lane(ref Unsafe.Add(ref scales, s >> 2), ref Unsafe.Add(ref x, 4 * s), w0, w1, w2, w3, w4, w5, w6, w7), Offset(ref blk, s));
    }

    [SkipLocalsInit]
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref Vector512<short> scales = ref MemoryMarshal.GetReference(stackalloc Vector512<short>[16]);
        ref byte xu = ref Unsafe.As<Vector512<byte>, byte>(ref MemoryMarshal.GetReference(stackalloc Vector512<byte>[4]));
        Vector512<float> l0 = default, l1 = default, l2 = default, l3 = default, l4 = default, l5 = default, l6 = default, l7 = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            DuplicatedScales(ref blk, ref scales);
            Unsigned(ref Unsafe.Add(ref x, 256 * b), ref xu);
            var ddx = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(Unsafe.Add(ref dx, b));
            ref byte ahead = ref Unsafe.Add(ref blk, PrefetchBlocks * BlockBytes);
            Prefetch(ref ahead, 0);
            l0 = Step1(l0, ddx, ref blk, ref scales, 0, ref xu);
            Prefetch(ref ahead, 5);
            l1 = Step1(l1, ddx, ref blk, ref scales, 1, ref xu);
            Prefetch(ref ahead, 10);
            l2 = Step1(l2, ddx, ref blk, ref scales, 2, ref xu);
            Prefetch(ref ahead, 15);
            l3 = Step1(l3, ddx, ref blk, ref scales, 3, ref xu);
            Prefetch(ref ahead, 20);
            l4 = Step1(l4, ddx, ref blk, ref scales, 4, ref xu);
            Prefetch(ref ahead, 25);
            l5 = Step1(l5, ddx, ref blk, ref scales, 5, ref xu);
            Prefetch(ref ahead, 30);
            l6 = Step1(l6, ddx, ref blk, ref scales, 6, ref xu);
            l7 = Step1(l7, ddx, ref blk, ref scales, 7, ref xu);
        }
        Sum8(l0, l1, l2, l3, l4, l5, l6, l7).StoreUnsafe(ref tile);
    }
}
