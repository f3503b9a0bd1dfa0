using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q6_K weights repacked at load for a register tile of 16 rows × 4 tokens (and 16 rows × 1), one row per
/// 32-bit lane of a 512-bit vector: the 6-bit values are rebuilt per step from their nibble and 2-bit planes
/// (GFNI moves the bits), multiplied unsigned (0..63) with vpmaddubsw (two products of at most 63·128 each:
/// no int16 saturation, two such sums still fit), and vpmaddwd applies each 16-value sub-block's scale
/// (int16, duplicated in both halves of the row's lane). The −32 offset is removed exactly per block with
/// vpmaddwd of the scale pairs and the activation's 16-value sums: 32·Σ_j sc_j·Σx_j.
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
/// Per (row, token) the float work is unchanged from the first (8-row) version of this tile, and the same in
/// both tiles: acc = fma(d·d_x, f32(Σ_j sc_j·(Σq·x − 32·Σx_j)), acc), block after block; only the exact
/// integer sum inside a block is reordered.
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

    public static RepackedQ6_K? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q6_K) throw new ArgumentException($"{w} is not Q6_K", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ6_K(w.Rows, blocks);
        int rb = w.RowBytes;
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var src = w.RowSpan(g * GroupRows, rows);
            ref byte dst = ref r.Group(g);
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                for (int row = 0; row < GroupRows; row++)
                {
                    bool pad = row >= rows; // padding rows: d = 0 and every value 0: they add exactly zero
                    var sb = pad ? default : src.Slice(row * rb + b * SourceBlockBytes, SourceBlockBytes);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), pad ? 0f : (float)BitConverter.UInt16BitsToHalf(MemoryMarshal.Read<ushort>(sb.Slice(208))));
                    for (int j = 0; j < 16; j++) Unsafe.Add(ref blk, 64 + 32 * (j >> 1) + 2 * row + (j & 1)) = pad ? (byte)0 : sb[192 + j];
                    for (int n = 0; n < 2; n++)
                        for (int s = 0; s < 8; s++)
                        {
                            ref byte step = ref Unsafe.Add(ref blk, Quants + StepBytes * (8 * n + s) + 4 * row);
                            Unsafe.WriteUnaligned(ref step, pad ? 0u : MemoryMarshal.Read<uint>(sb.Slice(64 * n + 4 * s)));
                            Unsafe.WriteUnaligned(ref Unsafe.Add(ref step, 64), pad ? 0u : MemoryMarshal.Read<uint>(sb.Slice(64 * n + 32 + 4 * s)));
                            Unsafe.WriteUnaligned(ref Unsafe.Add(ref step, 128), pad ? 0u : MemoryMarshal.Read<uint>(sb.Slice(128 + 32 * n + 4 * s)));
                        }
                }
            }
        }
        return r;
    }

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

    /// <summary>Σ_j sc_j·Σx_j of one token and block for the 16 rows (the −32 offset's integer factor).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> OffsetSum(ref byte blk, ref short sums16)
    {
        Vector512<int> a = default, c = default;
        for (int p = 0; p < 8; p += 2)
        {
            a += Avx512BW.MultiplyAddAdjacent(ScalePair(ref blk, p), Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref sums16, 2 * p)))).AsInt16());
            c += Avx512BW.MultiplyAddAdjacent(ScalePair(ref blk, p + 1), Vector512.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref sums16, 2 * p + 2)))).AsInt16());
        }
        return a + c;
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

    /// <summary>acc = fma(d·d_x, f32(isum), acc) for the 16 rows: the block's one float step per (row, token).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fold(Vector512<float> acc, ref byte blk, float dx, Vector512<int> isum) =>
        Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(dx), Vector512.ConvertToSingle(isum), acc);

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, cols = a.Cols, ss = a.ScaleStride, n16 = nb * 16;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, cols);
        ref sbyte x2 = ref Unsafe.Add(ref x1, cols);
        ref sbyte x3 = ref Unsafe.Add(ref x2, cols);
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref short bs0 = ref QuantMath.Sums16(a, t0);
        Vector512<float> f0 = default, f1 = default, f2 = default, f3 = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int n = 0; n < 2; n++)
            {
                var p0 = ScalePair(ref blk, 4 * n);
                var p1 = ScalePair(ref blk, 4 * n + 1);
                var p2 = ScalePair(ref blk, 4 * n + 2);
                var p3 = ScalePair(ref blk, 4 * n + 3);
                for (int sh = 0; sh < 2; sh++)
                {
                    bool odd = sh == 1;
                    var c0 = Duplicate(p0, odd);
                    var c1 = Duplicate(p1, odd);
                    var c2 = Duplicate(p2, odd);
                    var c3 = Duplicate(p3, odd);
                    for (int s = 4 * sh; s < 4 * sh + 4; s++)
                    {
                        Unpack(ref Unsafe.Add(ref blk, Quants + StepBytes * (8 * n + s)), out var e0, out var e1, out var e2, out var e3);
                        int xo = 256 * b + 128 * n + 4 * s;
                        s0 += (Scaled(Pairs(e0, X4(ref x0, xo)), c0) + Scaled(Pairs(e1, X4(ref x0, xo + 32)), c1)) + (Scaled(Pairs(e2, X4(ref x0, xo + 64)), c2) + Scaled(Pairs(e3, X4(ref x0, xo + 96)), c3));
                        s1 += (Scaled(Pairs(e0, X4(ref x1, xo)), c0) + Scaled(Pairs(e1, X4(ref x1, xo + 32)), c1)) + (Scaled(Pairs(e2, X4(ref x1, xo + 64)), c2) + Scaled(Pairs(e3, X4(ref x1, xo + 96)), c3));
                        s2 += (Scaled(Pairs(e0, X4(ref x2, xo)), c0) + Scaled(Pairs(e1, X4(ref x2, xo + 32)), c1)) + (Scaled(Pairs(e2, X4(ref x2, xo + 64)), c2) + Scaled(Pairs(e3, X4(ref x2, xo + 96)), c3));
                        s3 += (Scaled(Pairs(e0, X4(ref x3, xo)), c0) + Scaled(Pairs(e1, X4(ref x3, xo + 32)), c1)) + (Scaled(Pairs(e2, X4(ref x3, xo + 64)), c2) + Scaled(Pairs(e3, X4(ref x3, xo + 96)), c3));
                    }
                }
            }
            f0 = Fold(f0, ref blk, Unsafe.Add(ref d0, b), s0 - (OffsetSum(ref blk, ref Unsafe.Add(ref bs0, 16 * b)) << 5));
            f1 = Fold(f1, ref blk, Unsafe.Add(ref d0, ss + b), s1 - (OffsetSum(ref blk, ref Unsafe.Add(ref bs0, n16 + 16 * b)) << 5));
            f2 = Fold(f2, ref blk, Unsafe.Add(ref d0, 2 * ss + b), s2 - (OffsetSum(ref blk, ref Unsafe.Add(ref bs0, 2 * n16 + 16 * b)) << 5));
            f3 = Fold(f3, ref blk, Unsafe.Add(ref d0, 3 * ss + b), s3 - (OffsetSum(ref blk, ref Unsafe.Add(ref bs0, 3 * n16 + 16 * b)) << 5));
        }
        f0.StoreUnsafe(ref tile, 0);
        f1.StoreUnsafe(ref tile, 16);
        f2.StoreUnsafe(ref tile, 32);
        f3.StoreUnsafe(ref tile, 48);
    }

    /// <summary>One token: <see cref="Tile4"/>'s sums with two steps' pair sums added in int16 before each scale (exact, see <see cref="Pairs"/>).</summary>
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref short bs = ref QuantMath.Sums16(a, t);
        Vector512<float> f = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            Vector512<int> s0 = default, s1 = default;
            for (int n = 0; n < 2; n++)
            {
                var p0 = ScalePair(ref blk, 4 * n);
                var p1 = ScalePair(ref blk, 4 * n + 1);
                var p2 = ScalePair(ref blk, 4 * n + 2);
                var p3 = ScalePair(ref blk, 4 * n + 3);
                for (int sh = 0; sh < 2; sh++)
                {
                    bool odd = sh == 1;
                    var c0 = Duplicate(p0, odd);
                    var c1 = Duplicate(p1, odd);
                    var c2 = Duplicate(p2, odd);
                    var c3 = Duplicate(p3, odd);
                    for (int s = 4 * sh; s < 4 * sh + 4; s += 2)
                    {
                        ref byte step = ref Unsafe.Add(ref blk, Quants + StepBytes * (8 * n + s));
                        Unpack(ref step, out var e0, out var e1, out var e2, out var e3);
                        Unpack(ref Unsafe.Add(ref step, StepBytes), out var g0, out var g1, out var g2, out var g3);
                        int xo = 256 * b + 128 * n + 4 * s;
                        s0 += Scaled(Pairs(e0, X4(ref x, xo)) + Pairs(g0, X4(ref x, xo + 4)), c0)
                            + Scaled(Pairs(e1, X4(ref x, xo + 32)) + Pairs(g1, X4(ref x, xo + 36)), c1);
                        s1 += Scaled(Pairs(e2, X4(ref x, xo + 64)) + Pairs(g2, X4(ref x, xo + 68)), c2)
                            + Scaled(Pairs(e3, X4(ref x, xo + 96)) + Pairs(g3, X4(ref x, xo + 100)), c3);
                    }
                }
            }
            f = Fold(f, ref blk, Unsafe.Add(ref dx, b), (s0 + s1) - (OffsetSum(ref blk, ref Unsafe.Add(ref bs, 16 * b)) << 5));
        }
        f.StoreUnsafe(ref tile, 0);
    }
}
