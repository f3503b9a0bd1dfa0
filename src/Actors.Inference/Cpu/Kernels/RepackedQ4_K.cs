using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q4_K weights repacked at load for a register tile of 8 rows × 4 tokens (two per group of 16),
/// nibbles multiplied with AVX-VNNI vpdpbusd (they are unsigned 0..15: no offset), sub-block scales
/// applied to the exact integer sums, mins through vpmaddwd on the activations' 32-value sums.
/// </summary>
/// <remarks>
/// Per group of 16 rows and super-block b (256 columns), <see cref="BlockBytes"/> = 16 × 144 bytes, the
/// source blocks of the 16 rows transposed by 32-bit words: word k (bytes 4k..4k+3 of a row's 144-byte
/// block) of row r at 64k + 4r. So the copy is exactly as large as the rows it replaces:
/// <list type="bullet">
/// <item>word 0 (0..63): f16 d and dmin of each row;</item>
/// <item>words 1..3 (64..255): the 12 bytes of 6-bit scales and mins, unpacked in the kernels for 8 rows at once;</item>
/// <item>words 4.. (256..): nibbles, chunk c (64 columns) step s at 256 + 512c + 64s: bytes 4s..4s+3 of the chunk's
/// 32 source bytes for rows 0..15 (low nibbles: columns 64c+4s.., sub-block 2c; high: 64c+32+4s.., 2c+1).</item>
/// </list>
/// Per (row, token) the float work is that of ggml's repacked q4_K GEMM/GEMV (which llama.cpp runs for
/// Q4_K on AVX2 and up): acc = fma(Σ_j sc_j·Σq·x, d·d_x, acc) and mins = fma(Σ_j m_j·Σx, dmin·d_x, mins),
/// block after block, then acc − mins, in both tiles.
/// </remarks>
internal sealed class RepackedQ4_K : RepackedWeights
{
    private const int SourceBlockBytes = 144;
    public const int BlockBytes = GroupRows * SourceBlockBytes;
    private const int Nibbles = 256;

    public int Blocks { get; }

    /// <summary>
    /// How far ahead <see cref="Tile1"/> prefetches: three blocks. Its loads within a block are not in address
    /// order (scales, nibbles, then d and mins), and the hardware prefetcher did not keep up with them: without this
    /// (and with the earlier 2560-byte blocks),
    /// one token streamed 11 GB/s of weights from DRAM against the row kernel's 26 (docs/benchmarks.md).
    /// </summary>
    private const int PrefetchBytes = 3 * BlockBytes;

    protected override int Tile1PrefetchBytes => PrefetchBytes;

    public static bool IsSupported => RepackedQ8_0.IsSupported;

    private RepackedQ4_K(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    public static RepackedQ4_K? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q4_K) throw new ArgumentException($"{w} is not Q4_K", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ4_K(w.Rows, blocks);
        int rb = w.RowBytes;
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var src = w.RowSpan(g * GroupRows, rows);
            if (rows == GroupRows) FullGroup(src, rb, blocks, ref r.Group(g));
            else PartialGroup(src, rb, rows, blocks, ref r.Group(g));
        }
        return r;
    }

    /// <summary>A group of <paramref name="rows"/> ≤ 16 rows, one word at a time; rows past the end are zero (they add exactly zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PartialGroup(ReadOnlySpan<byte> src, int rb, int rows, int blocks, ref byte dst)
    {
        for (int b = 0; b < blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
            for (int row = 0; row < GroupRows; row++)
                for (int k = 0; k < SourceBlockBytes / 4; k++)
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 * k + 4 * row),
                        row < rows ? MemoryMarshal.Read<uint>(src.Slice(row * rb + b * SourceBlockBytes + 4 * k)) : 0u);
        }
    }

    /// <summary>A whole group of 16 rows, as <see cref="PartialGroup"/> writes it (tested byte for byte): each word is two 8-row gathers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once, at load: tier-0 code would be many times slower
    internal static unsafe void FullGroup(ReadOnlySpan<byte> src, int rb, int blocks, ref byte dst)
    {
        var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * rb;
        fixed (byte* p = src)
        {
            for (int b = 0; b < blocks; b++)
            {
                ref uint blk = ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref dst, (nint)b * BlockBytes));
                byte* q = p + b * SourceBlockBytes;
                for (int k = 0; k < SourceBlockBytes / 4; k++) Gather16(q + 4 * k, rowOffsets, rb).StoreUnsafe(ref blk, (nuint)(16 * k));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<uint> Gather16(byte* at, Vector256<int> rowOffsets, int rb) => Vector512.Create(
        Avx2.GatherVector256((int*)at, rowOffsets, 1), Avx2.GatherVector256((int*)(at + 8 * rb), rowOffsets, 1)).AsUInt32();

    /// <summary>The nine cache lines of a quarter block (unrolled by hand); a prefetch never faults past the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchQuarter(ref byte at)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref at);
        Sse.Prefetch0(p); Sse.Prefetch0(p + 64); Sse.Prefetch0(p + 128); Sse.Prefetch0(p + 192); Sse.Prefetch0(p + 256);
        Sse.Prefetch0(p + 320); Sse.Prefetch0(p + 384); Sse.Prefetch0(p + 448); Sse.Prefetch0(p + 512);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, int offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    /// <summary>Word <paramref name="k"/> of rows 8·half..8·half+7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Words(ref byte blk, int k, int half) =>
        Vector256.LoadUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref blk, 64 * k + 32 * half)));

    /// <summary>d of 8 rows (the low f16 of word 0), converted exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> D(ref byte blk, int half) => HalfConversion.ToSingle(Words(ref blk, 0, half) & Vector256.Create(0xFFFFu));

    /// <summary>dmin of 8 rows (the high f16 of word 0), converted exactly.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> DMin(ref byte blk, int half) => HalfConversion.ToSingle(Words(ref blk, 0, half) >> 16);

    /// <summary>
    /// The 6-bit scale of sub-block <paramref name="j"/> for 8 rows, from the scale words as ggml's get_scale_min_k4
    /// reads them (<see cref="QuantMath.UnpackQ4KScales"/>): j &lt; 4 in word 1, j ≥ 4 from word 3's low nibbles and
    /// word 1's top bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scales8(ref byte blk, int j, int half)
    {
        var u0 = Words(ref blk, 1, half);
        if (j < 4) return ((u0 >> (8 * j)) & Vector256.Create(0x3Fu)).AsInt32();
        int i = 8 * (j - 4);
        return (((Words(ref blk, 3, half) >> i) & Vector256.Create(0x0Fu)) | ((u0 >> (i + 2)) & Vector256.Create(0x30u))).AsInt32();
    }

    /// <summary>The mins of 8 rows in pairs, pair k as two int16 (m_2k, m_2k+1), for vpmaddwd with the activations' pair sums.</summary>
    private struct MinPairs
    {
        public Vector256<short> P0, P1, P2, P3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static MinPairs MinsOf(ref byte blk, int half)
    {
        var u1 = Words(ref blk, 2, half);
        var lo = u1 & Vector256.Create(0x3F3F3F3Fu); // m0..m3, a byte each
        var hi = ((Words(ref blk, 3, half) >> 4) & Vector256.Create(0x0F0F0F0Fu)) | ((u1 >> 2) & Vector256.Create(0x30303030u)); // m4..m7
        var b0 = Vector256.Create(0xFFu);
        var b2 = Vector256.Create(0xFF0000u);
        MinPairs m;
        m.P0 = ((lo & b0) | ((lo << 8) & b2)).AsInt16();
        m.P1 = (((lo >> 16) & b0) | ((lo >> 8) & b2)).AsInt16();
        m.P2 = ((hi & b0) | ((hi << 8) & b2)).AsInt16();
        m.P3 = (((hi >> 16) & b0) | ((hi >> 8) & b2)).AsInt16();
        return m;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Mins(in MinPairs m, ref int pairs) =>
        Avx2.MultiplyAddAdjacent(m.P0, Vector256.Create(pairs).AsInt16())
        + Avx2.MultiplyAddAdjacent(m.P1, Vector256.Create(Unsafe.Add(ref pairs, 1)).AsInt16())
        + (Avx2.MultiplyAddAdjacent(m.P2, Vector256.Create(Unsafe.Add(ref pairs, 2)).AsInt16())
        + Avx2.MultiplyAddAdjacent(m.P3, Vector256.Create(Unsafe.Add(ref pairs, 3)).AsInt16()));

    /// <summary>One block into the two accumulators, as ggml's repacked q4_K GEMM: acc += isum·(d·d_x), mins += msum·(dmin·d_x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Fold(ref Vector256<float> acc, ref Vector256<float> mins, Vector256<int> isum, Vector256<int> msum, Vector256<float> d, Vector256<float> dmin, float dx)
    {
        var vdx = Vector256.Create(dx);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(isum), d * vdx, acc);
        mins = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(msum), dmin * vdx, mins);
    }

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        Half4(ref grp, a, t0, 0, ref tile);
        Half4(ref grp, a, t0, 1, ref Unsafe.Add(ref tile, 8));
    }

    private static void Half4(ref byte grp, PreparedActivations a, int t0, int half, ref float tile)
    {
        int nb = a.Blocks, cols = a.Cols, ss = a.ScaleStride;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, cols);
        ref sbyte x2 = ref Unsafe.Add(ref x1, cols);
        ref sbyte x3 = ref Unsafe.Add(ref x2, cols);
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref int p0 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t0 * nb * 4);
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> f0 = default, f1 = default, f2 = default, f3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int c = 0; c < 4; c++)
            {
                Vector256<int> l0 = default, l1 = default, l2 = default, l3 = default, h0 = default, h1 = default, h2 = default, h3 = default;
                int xo = 256 * b + 64 * c;
                for (int s = 0; s < 8; s++, xo += 4)
                {
                    var v = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, Nibbles + 512 * c + 64 * s + 32 * half));
                    var lo = v & mask;
                    var hi = (v.AsUInt16() >> 4).AsByte() & mask;
                    l0 = Dp(l0, lo, X4(ref x0, xo)); h0 = Dp(h0, hi, X4(ref x0, xo + 32));
                    l1 = Dp(l1, lo, X4(ref x1, xo)); h1 = Dp(h1, hi, X4(ref x1, xo + 32));
                    l2 = Dp(l2, lo, X4(ref x2, xo)); h2 = Dp(h2, hi, X4(ref x2, xo + 32));
                    l3 = Dp(l3, lo, X4(ref x3, xo)); h3 = Dp(h3, hi, X4(ref x3, xo + 32));
                }
                var scl = Scales8(ref blk, 2 * c, half);
                var sch = Scales8(ref blk, 2 * c + 1, half);
                s0 += l0 * scl + h0 * sch;
                s1 += l1 * scl + h1 * sch;
                s2 += l2 * scl + h2 * sch;
                s3 += l3 * scl + h3 * sch;
            }
            var d = D(ref blk, half);
            var dmin = DMin(ref blk, half);
            var mp = MinsOf(ref blk, half);
            Fold(ref f0, ref m0, s0, Mins(mp, ref Unsafe.Add(ref p0, 4 * b)), d, dmin, Unsafe.Add(ref d0, b));
            Fold(ref f1, ref m1, s1, Mins(mp, ref Unsafe.Add(ref p0, 4 * (nb + b))), d, dmin, Unsafe.Add(ref d0, ss + b));
            Fold(ref f2, ref m2, s2, Mins(mp, ref Unsafe.Add(ref p0, 4 * (2 * nb + b))), d, dmin, Unsafe.Add(ref d0, 2 * ss + b));
            Fold(ref f3, ref m3, s3, Mins(mp, ref Unsafe.Add(ref p0, 4 * (3 * nb + b))), d, dmin, Unsafe.Add(ref d0, 3 * ss + b));
        }
        (f0 - m0).StoreUnsafe(ref tile, 0);
        (f1 - m1).StoreUnsafe(ref tile, 16);
        (f2 - m2).StoreUnsafe(ref tile, 32);
        (f3 - m3).StoreUnsafe(ref tile, 48);
    }

    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x0 = ref QuantMath.Quants(a, t);
        ref float d0 = ref QuantMath.Scales(a, t);
        ref int p0 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t * nb * 4);
        var mask = Vector256.Create((byte)0x0F);
        Vector256<float> fl = default, fh = default, ml = default, mh = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            Vector256<int> sl = default, sh = default;
            for (int c = 0; c < 4; c++)
            {
                // Even and odd steps in separate accumulators: eight independent vpdpbusd chains instead of four
                // (the integer sums are exact, so splitting them changes no bit of the result).
                Vector256<int> ll = default, lh = default, hl = default, hh = default;
                Vector256<int> ll2 = default, lh2 = default, hl2 = default, hh2 = default;
                int xo = 256 * b + 64 * c;
                PrefetchQuarter(ref Unsafe.Add(ref blk, PrefetchBytes + BlockBytes / 4 * c));
                for (int s = 0; s < 8; s += 2, xo += 8)
                {
                    ref byte q = ref Unsafe.Add(ref blk, Nibbles + 512 * c + 64 * s);
                    var v0 = Vector256.LoadUnsafe(ref q);
                    var v1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 32));
                    var v2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 64));
                    var v3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 96));
                    var xl = X4(ref x0, xo);
                    var xh = X4(ref x0, xo + 32);
                    var xl2 = X4(ref x0, xo + 4);
                    var xh2 = X4(ref x0, xo + 36);
                    ll = Dp(ll, v0 & mask, xl); lh = Dp(lh, v1 & mask, xl);
                    hl = Dp(hl, (v0.AsUInt16() >> 4).AsByte() & mask, xh); hh = Dp(hh, (v1.AsUInt16() >> 4).AsByte() & mask, xh);
                    ll2 = Dp(ll2, v2 & mask, xl2); lh2 = Dp(lh2, v3 & mask, xl2);
                    hl2 = Dp(hl2, (v2.AsUInt16() >> 4).AsByte() & mask, xh2); hh2 = Dp(hh2, (v3.AsUInt16() >> 4).AsByte() & mask, xh2);
                }
                ll += ll2; lh += lh2; hl += hl2; hh += hh2;
                sl += ll * Scales8(ref blk, 2 * c, 0) + hl * Scales8(ref blk, 2 * c + 1, 0);
                sh += lh * Scales8(ref blk, 2 * c, 1) + hh * Scales8(ref blk, 2 * c + 1, 1);
            }
            float dxb = Unsafe.Add(ref d0, b);
            ref int pairs = ref Unsafe.Add(ref p0, 4 * b);
            Fold(ref fl, ref ml, sl, Mins(MinsOf(ref blk, 0), ref pairs), D(ref blk, 0), DMin(ref blk, 0), dxb);
            Fold(ref fh, ref mh, sh, Mins(MinsOf(ref blk, 1), ref pairs), D(ref blk, 1), DMin(ref blk, 1), dxb);
        }
        (fl - ml).StoreUnsafe(ref tile, 0);
        (fh - mh).StoreUnsafe(ref tile, 8);
    }
}
