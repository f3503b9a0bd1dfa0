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
/// Per group of 16 rows and super-block b (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32); 64..127: dmin (f32);</item>
/// <item>128..255: the 6-bit scales, sub-block j at 128 + 16j + row (bytes);</item>
/// <item>256..383: the 6-bit mins in pairs, pair k at 256 + 32k + 2·row (bytes m_2k, m_2k+1; widened to int16 for vpmaddwd);</item>
/// <item>384..: nibbles, chunk c (64 columns) step s at 384 + 512c + 64s: bytes 4s..4s+3 of the chunk's
/// 32 source bytes for rows 0..15 (low nibbles: columns 64c+4s.., sub-block 2c; high: 64c+32+4s.., 2c+1).</item>
/// </list>
/// Per (row, token) the float work is that of ggml's repacked q4_K GEMM/GEMV (which llama.cpp runs for
/// Q4_K on AVX2 and up): acc = fma(Σ_j sc_j·Σq·x, d·d_x, acc) and mins = fma(Σ_j m_j·Σx, dmin·d_x, mins),
/// block after block, then acc − mins, in both tiles.
/// </remarks>
internal sealed partial class RepackedQ4_K : RepackedWeights
{
    public const int BlockBytes = Nibbles + GroupRows * 128;
    private const int SourceBlockBytes = 144;
    private const int Nibbles = 384;

    public int Blocks { get; }

    /// <summary>
    /// How far ahead <see cref="Tile1"/> prefetches: three blocks. Its loads within a block are not in address
    /// order (scales, nibbles, then d and mins), and the hardware prefetcher did not keep up with them: without this,
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
            if (rows == GroupRows && Avx512Vbmi.IsSupported) FullGroup(src, rb, blocks, ref r.Group(g));
            else PartialGroup(src, rb, rows, blocks, ref r.Group(g));
        }
        return r;
    }

    /// <summary>A group of <paramref name="rows"/> ≤ 16 rows, one value at a time; rows past the end are zero padding.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void PartialGroup(ReadOnlySpan<byte> src, int rb, int rows, int blocks, ref byte dst)
    {
        for (int b = 0; b < blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
            for (int row = 0; row < GroupRows; row++)
            {
                if (row >= rows)
                {
                    // Padding rows: every scale, min and nibble 0, so they add exactly zero.
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), 0f);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 4 * row), 0f);
                    for (int j = 0; j < 8; j++) Unsafe.Add(ref blk, 128 + 16 * j + row) = 0;
                    for (int k = 0; k < 4; k++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 256 + 32 * k + 2 * row), (ushort)0);
                    for (int c = 0; c < 4; c++)
                        for (int s = 0; s < 8; s++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Nibbles + 512 * c + 64 * s + 4 * row), 0);
                    continue;
                }
                var sb = src.Slice(row * rb + b * SourceBlockBytes, SourceBlockBytes);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), HalfConversion.ToSingle(MemoryMarshal.Read<ushort>(sb)));
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 4 * row), HalfConversion.ToSingle(MemoryMarshal.Read<ushort>(sb.Slice(2))));
                QuantMath.UnpackQ4KScales(ref MemoryMarshal.GetReference(sb.Slice(4)), out ulong sc, out ulong mn);
                for (int j = 0; j < 8; j++) Unsafe.Add(ref blk, 128 + 16 * j + row) = (byte)(sc >> (8 * j));
                for (int k = 0; k < 4; k++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 256 + 32 * k + 2 * row), (ushort)(mn >> (16 * k)));
                for (int c = 0; c < 4; c++)
                    for (int s = 0; s < 8; s++)
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Nibbles + 512 * c + 64 * s + 4 * row), MemoryMarshal.Read<uint>(sb.Slice(16 + 32 * c + 4 * s)));
            }
        }
    }

    /// <summary>Byte 16j + r of the scales (or mins) of 16 rows from byte 4r + j of their 32-bit words.</summary>
    private static readonly Vector512<byte> TransposeBytes = Vector512.Create<byte>(Enumerable.Range(0, 64).Select(i => (byte)(4 * (i % 16) + i / 16)).ToArray());

    /// <summary>Byte 32k + 2r + e (pair k of row r, e = 0, 1) of the mins of 16 rows from byte 4r + 2k + e of their 32-bit words.</summary>
    private static readonly Vector512<byte> TransposePairs = Vector512.Create<byte>(Enumerable.Range(0, 64).Select(i => (byte)(4 * (i % 32 / 2) + 2 * (i / 32) + i % 2)).ToArray());

    /// <summary>
    /// A whole group of 16 rows, as <see cref="PartialGroup"/> writes it (tested byte for byte): each 4-byte step of
    /// the nibbles is two 8-row gathers, the 12 scale bytes are unpacked for all 16 rows at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once at load: tier-0 code would be many times slower
    internal static unsafe void FullGroup(ReadOnlySpan<byte> src, int rb, int blocks, ref byte dst)
    {
        var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * rb;
        fixed (byte* p = src)
        {
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                byte* q = p + b * SourceBlockBytes;
                Header(q, rb, ref blk);
                // Step k = 8c + s of the nibbles: bytes 16 + 4k.. of each row's block.
                for (int k = 0; k < 32; k++)
                    Gather16(q + 16 + 4 * k, rowOffsets, rb).StoreUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref blk, Nibbles + 64 * k)));
            }
        }
    }

    /// <summary>
    /// Bytes 0..383 of a block (d, dmin, scales, mins) for 16 whole rows, <paramref name="q"/> at the first row's
    /// block; Q5_K's tile shares this header (its source blocks start as Q4_K's: d, dmin, 12 scale bytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static unsafe void Header(byte* q, int rb, ref byte blk)
    {
        var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * rb;
        var low6 = Vector512.Create(0x3F3F3F3Fu);
        var low4 = Vector512.Create(0x0F0F0F0Fu);
        var top2 = Vector512.Create(0x30303030u);
        for (int row = 0; row < GroupRows; row++)
        {
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), HalfConversion.ToSingle(Unsafe.ReadUnaligned<ushort>(q + row * rb)));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 4 * row), HalfConversion.ToSingle(Unsafe.ReadUnaligned<ushort>(q + row * rb + 2)));
        }
        // QuantMath.UnpackQ4KScales on 16 rows: lane r holds row r's word.
        var u0 = Gather16(q + 4, rowOffsets, rb);
        var u1 = Gather16(q + 8, rowOffsets, rb);
        var u2 = Gather16(q + 12, rowOffsets, rb);
        var scLo = u0 & low6;
        var scHi = (u2 & low4) | ((u0 >> 2) & top2);
        var mnLo = u1 & low6;
        var mnHi = ((u2 >> 4) & low4) | ((u1 >> 2) & top2);
        Avx512Vbmi.PermuteVar64x8(scLo.AsByte(), TransposeBytes).StoreUnsafe(ref Unsafe.Add(ref blk, 128));
        Avx512Vbmi.PermuteVar64x8(scHi.AsByte(), TransposeBytes).StoreUnsafe(ref Unsafe.Add(ref blk, 192));
        Avx512Vbmi.PermuteVar64x8(mnLo.AsByte(), TransposePairs).StoreUnsafe(ref Unsafe.Add(ref blk, 256));
        Avx512Vbmi.PermuteVar64x8(mnHi.AsByte(), TransposePairs).StoreUnsafe(ref Unsafe.Add(ref blk, 320));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<uint> Gather16(byte* at, Vector256<int> rowOffsets, int rb) => Vector512.Create(
        Avx2.GatherVector256((int*)at, rowOffsets, 1), Avx2.GatherVector256((int*)(at + 8 * rb), rowOffsets, 1)).AsUInt32();

    /// <summary>Ten cache lines from a quarter-block boundary (a quarter is 9.5 lines), unrolled by hand; a prefetch never faults past the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchQuarter(ref byte at)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref at);
        Sse.Prefetch0(p); Sse.Prefetch0(p + 64); Sse.Prefetch0(p + 128); Sse.Prefetch0(p + 192); Sse.Prefetch0(p + 256);
        Sse.Prefetch0(p + 320); Sse.Prefetch0(p + 384); Sse.Prefetch0(p + 448); Sse.Prefetch0(p + 512); Sse.Prefetch0(p + 576);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, int offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scales8(ref byte blk, int j, int half) =>
        Avx2.ConvertToVector256Int32(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref blk, 128 + 16 * j + 8 * half))).AsByte());

    /// <summary>Mins pair k of 8 rows widened to int16 (m_2k, m_2k+1), vpmaddwd's partner for the activations' pair sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> MinPair(ref byte blk, int k, int half) =>
        Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref Unsafe.Add(ref blk, 256 + 32 * k + 16 * half))).AsInt16();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Mins(ref byte blk, int half, ref int pairs) =>
        Avx2.MultiplyAddAdjacent(MinPair(ref blk, 0, half), Vector256.Create(pairs).AsInt16())
        + Avx2.MultiplyAddAdjacent(MinPair(ref blk, 1, half), Vector256.Create(Unsafe.Add(ref pairs, 1)).AsInt16())
        + (Avx2.MultiplyAddAdjacent(MinPair(ref blk, 2, half), Vector256.Create(Unsafe.Add(ref pairs, 2)).AsInt16())
        + Avx2.MultiplyAddAdjacent(MinPair(ref blk, 3, half), Vector256.Create(Unsafe.Add(ref pairs, 3)).AsInt16()));

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
            var d = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32 * half)));
            var dmin = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64 + 32 * half)));
            Fold(ref f0, ref m0, s0, Mins(ref blk, half, ref Unsafe.Add(ref p0, 4 * b)), d, dmin, Unsafe.Add(ref d0, b));
            Fold(ref f1, ref m1, s1, Mins(ref blk, half, ref Unsafe.Add(ref p0, 4 * (nb + b))), d, dmin, Unsafe.Add(ref d0, ss + b));
            Fold(ref f2, ref m2, s2, Mins(ref blk, half, ref Unsafe.Add(ref p0, 4 * (2 * nb + b))), d, dmin, Unsafe.Add(ref d0, 2 * ss + b));
            Fold(ref f3, ref m3, s3, Mins(ref blk, half, ref Unsafe.Add(ref p0, 4 * (3 * nb + b))), d, dmin, Unsafe.Add(ref d0, 3 * ss + b));
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
            Fold(ref fl, ref ml, sl, Mins(ref blk, 0, ref pairs), Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)),
                Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64))), dxb);
            Fold(ref fh, ref mh, sh, Mins(ref blk, 1, ref pairs), Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32))),
                Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 96))), dxb);
        }
        (fl - ml).StoreUnsafe(ref tile, 0);
        (fh - mh).StoreUnsafe(ref tile, 8);
    }
}
