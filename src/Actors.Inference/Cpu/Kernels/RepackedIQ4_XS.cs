using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// IQ4_XS weights repacked at load for a register tile of 16 rows × up to 4 tokens: nibbles mapped to ggml's
/// non-linear levels by vpshufb in registers, multiplied as llama.cpp's AVX2 vec_dot does (vpmaddubsw of |level|
/// against the activations carrying the level's sign), the 6-bit sub-block scales applied by AVX-VNNI vpdpwssd.
/// </summary>
/// <remarks>
/// Per group of 16 rows and super-block b (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32, widened from f16 here);</item>
/// <item>64..191: the sub-block scales ls − 32 as int8, sub-block ib at 64 + 16·ib + row;</item>
/// <item>192..: nibbles, step (s, ib) at 192 + 64·(8s + ib): bytes 4s..4s+3 of sub-block ib's 16 bytes for rows
/// 0..15 (low nibbles: elements 4s..4s+3 of the sub-block, high nibbles: 16+4s..16+4s+3). The tiles read them
/// in that order, s after s, so a block streams front to back.</item>
/// </list>
/// 2240 bytes per 16 × 256 block against the file's 2176. The float work per (row, token) is the row kernel's
/// (<see cref="SuperBlockKernel{T}"/> with <see cref="IQ4_XSDecoder"/>, llama.cpp's AVX2 vec_dot, which its AVX-512
/// build runs for IQ4_XS and for one token and a batch alike): eight int32 lanes per block, lane k the exact
/// Σ_ib (ls_ib − 32)·Σ level·x over elements 4k..4k+3 of every sub-block, acc_k = fma(f32(lane k), d_x·d, acc_k)
/// block after block, then ((acc0 + acc4) + (acc2 + acc6)) + ((acc1 + acc5) + (acc3 + acc7)) + 0. Here lane k of 16
/// rows is one vector, so the tile needs no horizontal sums; the integers are exact, so their order is free.
/// </remarks>
internal sealed class RepackedIQ4_XS : RepackedWeights
{
    public const int BlockBytes = Nibbles + GroupRows * 128;
    private const int ScaleBytes = 64;
    private const int Nibbles = 192;
    private const int SourceBlockBytes = 136;

    public int Blocks { get; }

    public static bool IsSupported => RepackedQ8_0.IsSupported;

    /// <summary>How far ahead <see cref="Tile1"/> prefetches its own stream: three blocks, as <see cref="RepackedQ4_K"/> does.</summary>
    private const int PrefetchBytes = 3 * BlockBytes;

    protected override int Tile1PrefetchBytes => PrefetchBytes;

    private RepackedIQ4_XS(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    public static RepackedIQ4_XS? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.IQ4_XS) throw new ArgumentException($"{w} is not IQ4_XS", nameof(w));
        int blocks = w.Cols / 256;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedIQ4_XS(w.Rows, blocks);
        int rb = w.RowBytes;
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var src = w.RowSpan(g * GroupRows, rows);
            if (rows == GroupRows) FullGroup(src, rb, blocks, ref r.Group(g));
            else CopyGroup(src, rb, rows, blocks, ref r.Group(g));
        }
        return r;
    }

    /// <summary>A group of <paramref name="rows"/> ≤ 16 rows, value by value; rows past the end get d = 0, scale 0 and nibbles 0 (they add exactly zero).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once at load: tier-0 code would be many times slower
    internal static void CopyGroup(ReadOnlySpan<byte> src, int rb, int rows, int blocks, ref byte dst)
    {
        for (int b = 0; b < blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
            for (int row = 0; row < GroupRows; row++)
            {
                if (row >= rows)
                {
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), 0f);
                    for (int ib = 0; ib < 8; ib++) Unsafe.Add(ref blk, ScaleBytes + 16 * ib + row) = 0;
                    for (int j = 0; j < 32; j++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Nibbles + 64 * j + 4 * row), 0u);
                    continue;
                }
                var sb = src.Slice(row * rb + b * SourceBlockBytes, SourceBlockBytes);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), HalfConversion.ToSingle(MemoryMarshal.Read<ushort>(sb)));
                int sh = MemoryMarshal.Read<ushort>(sb.Slice(2));
                for (int ib = 0; ib < 8; ib++)
                {
                    int ls = ((sb[4 + ib / 2] >> (4 * (ib % 2))) & 15) | (((sh >> (2 * ib)) & 3) << 4);
                    Unsafe.Add(ref blk, ScaleBytes + 16 * ib + row) = (byte)(sbyte)(ls - 32);
                }
                for (int ib = 0; ib < 8; ib++)
                    for (int st = 0; st < 4; st++)
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, Nibbles + 64 * (8 * st + ib) + 4 * row), MemoryMarshal.Read<uint>(sb.Slice(8 + 16 * ib + 4 * st)));
            }
        }
    }

    /// <summary>
    /// A whole group of 16 rows, as <see cref="CopyGroup"/> writes it (tested byte for byte): each 4-byte step of the
    /// nibbles is two 8-row gathers, the scales of a sub-block are unpacked for all 16 rows at once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // runs once at load: tier-0 code would be many times slower
    internal static unsafe void FullGroup(ReadOnlySpan<byte> src, int rb, int blocks, ref byte dst)
    {
        if (src.Length < GroupRows * rb) throw new ArgumentException("a full group needs 16 rows", nameof(src));
        var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * rb;
        fixed (byte* p = src)
        {
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                byte* q = p + b * SourceBlockBytes;
                for (int row = 0; row < GroupRows; row++)
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), HalfConversion.ToSingle(Unsafe.ReadUnaligned<ushort>(q + row * rb)));
                // Lane r: row r's scales_h (low 16 bits of the word at 2) and scales_l (the word at 4).
                var sh = Gather16(q + 2, rowOffsets, rb);
                var sl = Gather16(q + 4, rowOffsets, rb);
                for (int ib = 0; ib < 8; ib++)
                {
                    var ls = ((sl >> (4 * ib)) & Vector512.Create(15u)) | (((sh >> (2 * ib)) & Vector512.Create(3u)) << 4);
                    Avx512F.ConvertToVector128Byte(ls - Vector512.Create(32u)).StoreUnsafe(ref Unsafe.Add(ref blk, ScaleBytes + 16 * ib));
                }
                for (int ib = 0; ib < 8; ib++)
                    for (int st = 0; st < 4; st++)
                        Gather16(q + 8 + 16 * ib + 4 * st, rowOffsets, rb).StoreUnsafe(ref Unsafe.As<byte, uint>(ref Unsafe.Add(ref blk, Nibbles + 64 * (8 * st + ib))));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector512<uint> Gather16(byte* at, Vector256<int> rowOffsets, int rb) => Vector512.Create(
        Avx2.GatherVector256((int*)at, rowOffsets, 1), Avx2.GatherVector256((int*)(at + 8 * rb), rowOffsets, 1)).AsUInt32();

    /// <summary>ggml's kvalues_iq4nl in both 128-bit lanes, for vpshufb.</summary>
    private static readonly Vector256<sbyte> Levels = Vector256.Create(Vector128.Create(
        (sbyte)-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113));

    /// <summary>|level|, for vpshufb.</summary>
    private static readonly Vector256<sbyte> Magnitudes = Vector256.Create(Vector128.Create(
        (sbyte)127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113));

    /// <summary>Byte s_i of a broadcast qword into the high byte of both words of dword i (low bytes zero): vpsraw 8 then gives (s_i, s_i) as int16.</summary>
    private static readonly Vector256<sbyte> ScaleSpread = Vector256.Create(
        -1, 0, -1, 0, -1, 1, -1, 1, -1, 2, -1, 2, -1, 3, -1, 3,
        -1, 4, -1, 4, -1, 5, -1, 5, -1, 6, -1, 6, -1, 7, -1, 7);

    /// <summary>
    /// The scales of the block's 16 rows for vpdpwssd: entry 2·ib + half holds rows 8·half..8·half+7 of sub-block ib,
    /// each as the int16 pair (s, s), so one vpdpwssd multiplies both vpmaddubsw pair sums of a row by its scale.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void SpreadScales(ref byte blk, Vector256<short>* sc)
    {
        var spread = ScaleSpread;
        for (int i = 0; i < 16; i++)
        {
            var q = Vector256.Create(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref blk, ScaleBytes + 8 * i))).AsSByte();
            sc[i] = Avx2.ShiftRightArithmetic(Avx2.Shuffle(q, spread).AsInt16(), 8);
        }
    }

    /// <summary>Nine cache lines from a quarter-block boundary (a quarter is 8.75 lines); a prefetch never faults past the end.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchQuarter(ref byte at)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref at);
        Sse.Prefetch0(p); Sse.Prefetch0(p + 64); Sse.Prefetch0(p + 128); Sse.Prefetch0(p + 192); Sse.Prefetch0(p + 256);
        Sse.Prefetch0(p + 320); Sse.Prefetch0(p + 384); Sse.Prefetch0(p + 448); Sse.Prefetch0(p + 512);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, int offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    /// <summary>acc + scale·(Σ of each row's four products level·x), the products as llama.cpp's mul_add_epi8 forms them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Madd(Vector256<int> acc, Vector256<byte> magnitude, Vector256<sbyte> level, Vector256<sbyte> x, Vector256<short> scale) =>
        AvxVnni.MultiplyWideningAndAdd(acc, Avx2.MultiplyAddAdjacent(magnitude, Avx2.Sign(x, level)), scale);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Join(Vector256<int> lo, Vector256<int> hi) =>
        Vector512.ConvertToSingle(Avx512F.InsertVector256(lo.ToVector512Unsafe(), hi, 1));

    /// <summary>((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)) + 0: <see cref="VectorMath.HSum(Vector256{float})"/>'s order, then the row kernel's + summs.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lanes(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3,
        Vector512<float> a4, Vector512<float> a5, Vector512<float> a6, Vector512<float> a7) =>
        ((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7)) + Vector512<float>.Zero;

    protected override unsafe void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x0 = ref QuantMath.Quants(a, t);
        ref float d0 = ref QuantMath.Scales(a, t);
        var sc = stackalloc Vector256<short>[16];
        var mask = Vector256.Create((byte)0x0F);
        var levels = Levels;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            ref sbyte x = ref Unsafe.Add(ref x0, 256 * b);
            SpreadScales(ref blk, sc);
            var e = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(Unsafe.Add(ref d0, b));
            for (int s = 0; s < 4; s++)
            {
                PrefetchQuarter(ref Unsafe.Add(ref blk, PrefetchBytes + BlockBytes / 4 * s));
                // Lane s (low nibbles) and lane 4 + s (high nibbles) of rows 0..7 and 8..15.
                Vector256<int> l0 = default, l1 = default, h0 = default, h1 = default;
                for (int ib = 0; ib < 8; ib++)
                {
                    ref byte q = ref Unsafe.Add(ref blk, Nibbles + 64 * (8 * s + ib));
                    var v0 = Vector256.LoadUnsafe(ref q);
                    var v1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 32));
                    var xl = X4(ref x, 32 * ib + 4 * s);
                    var xh = X4(ref x, 32 * ib + 16 + 4 * s);
                    var ql0 = Avx2.Shuffle(levels, (v0 & mask).AsSByte());
                    var ql1 = Avx2.Shuffle(levels, (v1 & mask).AsSByte());
                    var qh0 = Avx2.Shuffle(levels, ((v0.AsUInt16() >> 4).AsByte() & mask).AsSByte());
                    var qh1 = Avx2.Shuffle(levels, ((v1.AsUInt16() >> 4).AsByte() & mask).AsSByte());
                    l0 = Madd(l0, Avx2.Abs(ql0), ql0, xl, sc[2 * ib]);
                    l1 = Madd(l1, Avx2.Abs(ql1), ql1, xl, sc[2 * ib + 1]);
                    h0 = Madd(h0, Avx2.Abs(qh0), qh0, xh, sc[2 * ib]);
                    h1 = Madd(h1, Avx2.Abs(qh1), qh1, xh, sc[2 * ib + 1]);
                }
                var lo = Join(l0, l1);
                var hi = Join(h0, h1);
                switch (s)
                {
                    case 0: a0 = Vector512.FusedMultiplyAdd(lo, e, a0); a4 = Vector512.FusedMultiplyAdd(hi, e, a4); break;
                    case 1: a1 = Vector512.FusedMultiplyAdd(lo, e, a1); a5 = Vector512.FusedMultiplyAdd(hi, e, a5); break;
                    case 2: a2 = Vector512.FusedMultiplyAdd(lo, e, a2); a6 = Vector512.FusedMultiplyAdd(hi, e, a6); break;
                    default: a3 = Vector512.FusedMultiplyAdd(lo, e, a3); a7 = Vector512.FusedMultiplyAdd(hi, e, a7); break;
                }
            }
        }
        Lanes(a0, a1, a2, a3, a4, a5, a6, a7).StoreUnsafe(ref tile);
    }

    /// <summary>
    /// Rows 0..15 × tokens t0..t0+3 into tile[k·16 + r]: each nibble vector is decoded once for four tokens. The f32
    /// lanes live in a stack scratch (acc[k·128 + 16·lane + row]), read by one FMA per (token, lane, 8 rows) and block.
    /// Each (row, token)'s float operations are <see cref="Tile1"/>'s.
    /// </summary>
    protected override unsafe void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, cols = a.Cols, ss = a.ScaleStride;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref float d0 = ref QuantMath.Scales(a, t0);
        var sc = stackalloc Vector256<short>[16];
        float* acc = stackalloc float[4 * 128];
        var magnitudes = Magnitudes;
        float* e = stackalloc float[64];
        new Span<float>(acc, 4 * 128).Clear();
        var mask = Vector256.Create((byte)0x0F);
        var levels = Levels;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            ref sbyte xa = ref Unsafe.Add(ref x0, 256 * b);
            ref sbyte xb = ref Unsafe.Add(ref xa, cols);
            ref sbyte xc = ref Unsafe.Add(ref xb, cols);
            ref sbyte xd = ref Unsafe.Add(ref xc, cols);
            SpreadScales(ref blk, sc);
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            (d * Vector512.Create(Unsafe.Add(ref d0, b))).Store(e);
            (d * Vector512.Create(Unsafe.Add(ref d0, ss + b))).Store(e + 16);
            (d * Vector512.Create(Unsafe.Add(ref d0, 2 * ss + b))).Store(e + 32);
            (d * Vector512.Create(Unsafe.Add(ref d0, 3 * ss + b))).Store(e + 48);
            for (int half = 0; half < 2; half++)
            {
                for (int s = 0; s < 4; s++)
                {
                    Vector256<int> la = default, lb = default, lc = default, ld = default, ha = default, hb = default, hc = default, hd = default;
                    for (int ib = 0; ib < 8; ib++)
                    {
                        var v = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, Nibbles + 64 * (8 * s + ib) + 32 * half));
                        var il = (v & mask).AsSByte();
                        var ih = ((v.AsUInt16() >> 4).AsByte() & mask).AsSByte();
                        var ql = Avx2.Shuffle(levels, il);
                        var qh = Avx2.Shuffle(levels, ih);
                        var ml = Avx2.Shuffle(magnitudes, il).AsByte();
                        var mh = Avx2.Shuffle(magnitudes, ih).AsByte();
                        var scale = sc[2 * ib + half];
                        int o = 32 * ib + 4 * s;
                        la = Madd(la, ml, ql, X4(ref xa, o), scale); ha = Madd(ha, mh, qh, X4(ref xa, o + 16), scale);
                        lb = Madd(lb, ml, ql, X4(ref xb, o), scale); hb = Madd(hb, mh, qh, X4(ref xb, o + 16), scale);
                        lc = Madd(lc, ml, ql, X4(ref xc, o), scale); hc = Madd(hc, mh, qh, X4(ref xc, o + 16), scale);
                        ld = Madd(ld, ml, ql, X4(ref xd, o), scale); hd = Madd(hd, mh, qh, X4(ref xd, o + 16), scale);
                    }
                    int r = 8 * half;
                    FoldAt(acc + 16 * s + r, la, e + r);
                    FoldAt(acc + 16 * (4 + s) + r, ha, e + r);
                    FoldAt(acc + 128 + 16 * s + r, lb, e + 16 + r);
                    FoldAt(acc + 128 + 16 * (4 + s) + r, hb, e + 16 + r);
                    FoldAt(acc + 256 + 16 * s + r, lc, e + 32 + r);
                    FoldAt(acc + 256 + 16 * (4 + s) + r, hc, e + 32 + r);
                    FoldAt(acc + 384 + 16 * s + r, ld, e + 48 + r);
                    FoldAt(acc + 384 + 16 * (4 + s) + r, hd, e + 48 + r);
                }
            }
        }
        for (int k = 0; k < 4; k++)
        {
            float* p = acc + 128 * k;
            Lanes(Vector512.Load(p), Vector512.Load(p + 16), Vector512.Load(p + 32), Vector512.Load(p + 48),
                Vector512.Load(p + 64), Vector512.Load(p + 80), Vector512.Load(p + 96), Vector512.Load(p + 112)).StoreUnsafe(ref tile, (nuint)(16 * k));
        }
    }

    /// <summary>acc[0..8] = fma(f32(sum), scale[0..8], acc[0..8]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FoldAt(float* acc, Vector256<int> sum, float* scale) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum), Vector256.Load(scale), Vector256.Load(acc)).Store(acc);
}
