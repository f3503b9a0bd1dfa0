using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>Where a 32-value block type with nibbles (and optionally a fifth bit and a min) keeps its fields.</summary>
internal interface IBlock32Format
{
    static abstract GgmlType Type { get; }
    static abstract int SourceBlockBytes { get; }

    /// <summary>Byte offset of the f16 min m (y = d·q + m), or −1 when the type has none.</summary>
    static abstract int MinAt { get; }

    /// <summary>Byte offset of the u32 of fifth bits (bit j: element j), or −1 when the type has none.</summary>
    static abstract int HighBitsAt { get; }

    static abstract int QuantsAt { get; }

    /// <summary>The stored unsigned value minus the level the row kernel multiplies (Q5_0: 16; Q4_1, Q5_1: 0).</summary>
    static abstract int Offset { get; }
}

/// <summary>Q4_1: d @0, m @2, qs[16] @4.</summary>
internal readonly struct Q4_1Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q4_1;
    public static int SourceBlockBytes => 20;
    public static int MinAt => 2;
    public static int HighBitsAt => -1;
    public static int QuantsAt => 4;
    public static int Offset => 0;
}

/// <summary>Q5_0: d @0, qh @2, qs[16] @6; level = 5-bit value − 16.</summary>
internal readonly struct Q5_0Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q5_0;
    public static int SourceBlockBytes => 22;
    public static int MinAt => -1;
    public static int HighBitsAt => 2;
    public static int QuantsAt => 6;
    public static int Offset => 16;
}

/// <summary>Q5_1: d @0, m @2, qh @4, qs[16] @8.</summary>
internal readonly struct Q5_1Format : IBlock32Format
{
    public static GgmlType Type => GgmlType.Q5_1;
    public static int SourceBlockBytes => 24;
    public static int MinAt => 2;
    public static int HighBitsAt => 4;
    public static int QuantsAt => 8;
    public static int Offset => 0;
}

/// <summary>
/// Q4_1, Q5_0 and Q5_1 weights repacked at load for a register tile of 16 rows × up to 4 tokens, the 4- or 5-bit
/// values unpacked in registers and multiplied with AVX-VNNI vpdpbusd (u8 weight × s8 activation).
/// </summary>
/// <remarks>
/// Layout: groups of 16 rows (the last one padded with zero rows); inside a group, block after block (32 columns),
/// each <see cref="BlockBytes"/> long:
/// <list type="bullet">
/// <item>bytes 0..63: the 16 rows' scales d as f32 (widened from f16 once, here);</item>
/// <item>Q4_1, Q5_1: the next 64 bytes, the 16 rows' mins m as f32;</item>
/// <item>then 4 steps of 64 bytes: step s holds bytes 4s..4s+3 of the 16 nibble bytes of rows 0..7, then of rows
/// 8..15, four per row; their low nibbles are elements 4s..4s+3, their high nibbles elements 16+4s..16+4s+3;</item>
/// <item>Q5_0, Q5_1: the last 64 bytes, the fifth bits of rows 0..7 then 8..15, one byte per nibble byte position
/// of a step: bit s is element 4s+c's, bit 4+s element 16+4s+c's (c the byte within the row's four).</item>
/// </list>
/// Per (row, token) the float work is the row kernel's (<see cref="Block32Kernel{T}"/>, llama.cpp's vec_dot and
/// tinyBLAS order): eight f32 lanes, lane k = the integer sum of elements 4k..4k+3 of a block, lane =
/// fma(f32(lane), d_w·d_x, lane) block after block, then ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), plus, for the
/// types with a min, the FMA chain of m_w·s_x over the blocks. Q5_0 stores level + 16, so its integer lanes start
/// at −16·Σx of their four values (<see cref="PreparedActivations.OffsetSums"/>) and end exactly at Σ level·x.
/// </remarks>
internal sealed class RepackedBlock32<T> : RepackedWeights where T : IBlock32Format
{
    // Constants per type, but only if inlined: in the large tile bodies the JIT's inline budget ran out, leaving calls
    // (14 % of a Q5_0 decode in perf) when methods with loops are compiled once, fully optimised (the CLI's QuickJit settings).
    private static bool HasMin { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => T.MinAt >= 0; }
    private static bool HasHighBits { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => T.HighBitsAt >= 0; }
    private static int QuantsOffset { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => HasMin ? 128 : 64; }
    private static int HighBitsOffset { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => QuantsOffset + 256; }
    public static int BlockBytes { [MethodImpl(MethodImplOptions.AggressiveInlining)] get => HighBitsOffset + (HasHighBits ? 64 : 0); }

    public int Blocks { get; }

    /// <summary>Whether this machine runs the repacked kernel (AVX-512 path with AVX-VNNI).</summary>
    public static bool IsSupported => AvxVnni.IsSupported && Bmi2.IsSupported && KernelDispatch.Best == KernelPath.Avx512;

    private RepackedBlock32(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    /// <summary>The repacked copy of <paramref name="w"/>, or null when it does not fit one array.</summary>
    public static RepackedBlock32<T>? Create(WeightMatrix w)
    {
        if (w.Type != T.Type) throw new ArgumentException($"{w} is not {T.Type}", nameof(w));
        int blocks = w.Cols / 32;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedBlock32<T>(w.Rows, blocks);
        int rb = w.RowBytes;
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            CopyGroup(w.RowSpan(g * GroupRows, rows), rb, rows, blocks, ref r.Group(g));
        }
        return r;
    }

    /// <summary>One group of <paramref name="rows"/> source rows into the layout; padding rows get d = m = 0 and zero quants.</summary>
    internal static void CopyGroup(ReadOnlySpan<byte> src, int rowBytes, int rows, int blocks, ref byte dst)
    {
        ref byte s0 = ref MemoryMarshal.GetReference(src);
        for (int b = 0; b < blocks; b++)
        {
            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
            for (int row = 0; row < GroupRows; row++)
            {
                bool real = row < rows;
                ref byte sb = ref Unsafe.Add(ref s0, real ? (nint)row * rowBytes + (nint)b * T.SourceBlockBytes : 0);
                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), real ? F16(ref sb) : 0f);
                if (HasMin) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 4 * row), real ? F16(ref Unsafe.Add(ref sb, T.MinAt)) : 0f);
                for (int s = 0; s < 4; s++)
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, QuantsOffset + 64 * s + 4 * row), real ? Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref sb, T.QuantsAt + 4 * s)) : 0u);
                if (HasHighBits)
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, HighBitsOffset + 4 * row), real ? SpreadHighBits(Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref sb, T.HighBitsAt))) : 0u);
            }
        }
    }

    /// <summary>
    /// A row's u32 of fifth bits (bit j: element j) as the four bytes of its step position c = 0..3: byte c holds
    /// bits c, 4+c, 8+c, 12+c (elements 4s+c, s = 0..3) in bits 0..3 and 16+c, .., 28+c in bits 4..7.
    /// </summary>
    /// <remarks>Every AVX-512 machine (the only one that runs the tile) has BMI2.</remarks>
    internal static uint SpreadHighBits(uint qh) =>
        Bmi2.ParallelBitExtract(qh, 0x11111111u) | Bmi2.ParallelBitExtract(qh, 0x22222222u) << 8
        | Bmi2.ParallelBitExtract(qh, 0x44444444u) << 16 | Bmi2.ParallelBitExtract(qh, 0x88888888u) << 24;

    private static float F16(ref byte at) => HalfConversion.ToSingle(Unsafe.ReadUnaligned<ushort>(ref at));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, nint offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Join(Vector256<int> lo, Vector256<int> hi) => Avx512F.InsertVector256(lo.ToVector512Unsafe(), hi, 1);

    /// <summary>The start of an integer lane: −offset·Σx of its four values (Q5_0), else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Start(ref int o, nint j) => T.Offset == 0 ? default : Vector256.Create(Unsafe.Add(ref o, j));

    /// <summary>
    /// Step s of eight rows' nibble bytes <paramref name="v"/> to the unsigned values of elements 4s+c (<paramref name="lo"/>)
    /// and 16+4s+c (<paramref name="hi"/>), the fifth bit from <paramref name="h"/> for the 5-bit types.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(Vector256<byte> v, Vector256<byte> h, int s, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var m = Vector256.Create((byte)0x0F);
        lo = v & m;
        hi = Vector256.ShiftRightLogical(v.AsUInt16(), 4).AsByte() & m;
        if (!HasHighBits) return;
        var sixteen = Vector256.Create((byte)0x10);
        lo |= Vector256.ShiftLeft(h.AsUInt16(), 4 - s).AsByte() & sixteen;
        hi |= Vector256.ShiftRightLogical(h.AsUInt16(), s).AsByte() & sixteen;
    }

    /// <summary>Lanes s (low half) and 4+s (high half) of eight rows: acc = fma(f32(integer lanes), d, acc).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Lanes(Vector512<float> acc, Vector256<byte> lo, Vector256<byte> hi, ref sbyte x, ref int o, int s, Vector512<float> d) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(
            Dp(Start(ref o, s), lo, X4(ref x, 4 * s)),
            Dp(Start(ref o, 4 + s), hi, X4(ref x, 16 + 4 * s)))), d, acc);

    /// <summary>The row kernel's horizontal sum of eight rows' lanes held as [lane s | lane 4+s] in <paramref name="a0"/>..<paramref name="a3"/>, plus the mins.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fold(Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3, Vector256<float> mins) =>
        (((a0.GetLower() + a0.GetUpper()) + (a2.GetLower() + a2.GetUpper())) + ((a1.GetLower() + a1.GetUpper()) + (a3.GetLower() + a3.GetUpper()))) + mins;

    /// <summary>
    /// Rows 0..15 × token t into tile[r]. Accumulators hold lane k of the 16 rows (rows 0..7 in the low half),
    /// <c>a</c>k for lanes 0..3 and <c>b</c>k for lanes 4..7.
    /// </summary>
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref float sx = ref QuantMath.ScaledSums(a, t);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * (a.Cols / 4));
        ref byte blk = ref grp;
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default, b0 = default, b1 = default, b2 = default, b3 = default, mins = default;
        for (int b = 0; b < nb; b++)
        {
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(Unsafe.Add(ref dx, b));
            if (HasMin) mins = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64))), Vector512.Create(Unsafe.Add(ref sx, b)), mins);
            ref byte q = ref Unsafe.Add(ref blk, QuantsOffset);
            var h0 = HasHighBits ? Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, HighBitsOffset)) : default;
            var h1 = HasHighBits ? Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, HighBitsOffset + 32)) : default;
            Step1(ref a0, ref b0, ref q, h0, h1, 0, ref x, ref o, d);
            Step1(ref a1, ref b1, ref q, h0, h1, 1, ref x, ref o, d);
            Step1(ref a2, ref b2, ref q, h0, h1, 2, ref x, ref o, d);
            Step1(ref a3, ref b3, ref q, h0, h1, 3, ref x, ref o, d);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
            x = ref Unsafe.Add(ref x, 32);
            o = ref Unsafe.Add(ref o, 8);
        }
        // ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), then the mins: the row kernel's VectorMath.HSum(acc) + mins.
        (((a0 + b0) + (a2 + b2)) + ((a1 + b1) + (a3 + b3)) + mins).StoreUnsafe(ref tile);
    }

    /// <summary>Step s of one block for rows 0..15 × one token: lane s into <paramref name="lane"/>, lane 4+s into <paramref name="lane4"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step1(ref Vector512<float> lane, ref Vector512<float> lane4, ref byte q, Vector256<byte> h0, Vector256<byte> h1,
        int s, ref sbyte x, ref int o, Vector512<float> d)
    {
        Unpack(Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 64 * s)), h0, s, out var lo0, out var hi0);
        Unpack(Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 64 * s + 32)), h1, s, out var lo1, out var hi1);
        var xl = X4(ref x, 4 * s);
        var xh = X4(ref x, 16 + 4 * s);
        var ol = Start(ref o, s);
        var oh = Start(ref o, 4 + s);
        lane = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(Dp(ol, lo0, xl), Dp(ol, lo1, xl))), d, lane);
        lane4 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(Dp(oh, hi0, xh), Dp(oh, hi1, xh))), d, lane4);
    }

    private const int PrefetchAhead = 8;

    /// <summary>Prefetches the cache lines of one block (a hint: past the array's end is harmless).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void PrefetchBlock(ref byte block)
    {
        byte* p = (byte*)Unsafe.AsPointer(ref block);
        for (int o = 0; o < BlockBytes; o += 64) Sse.Prefetch0(p + o);
    }

    /// <summary>
    /// Rows 0..15 × tokens t0..t0+3 into tile[k·16 + r], rows 0..7 then 8..15: each half's bytes are unpacked once for
    /// four tokens. Each (row, token)'s float operations are <see cref="Tile1"/>'s.
    /// </summary>
    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        Half4(ref grp, a, t0, 0, ref tile);
        Half4(ref grp, a, t0, 1, ref Unsafe.Add(ref tile, 8));
    }

    /// <summary>
    /// Rows 8·half..8·half+7 × tokens t0..t0+3 into tile[k·16 + r]. Accumulator c<i>k</i><i>s</i> holds lanes s and 4+s
    /// of the eight rows for token k (sixteen accumulators, the d's and the mins stay in registers).
    /// </summary>
    private static void Half4(ref byte grp, PreparedActivations a, int t0, int half, ref float tile)
    {
        int nb = a.Blocks;
        nint xs = a.Cols, ds = a.ScaleStride, os = a.Cols / 4;
        ref sbyte x = ref QuantMath.Quants(a, t0);
        ref float dx = ref QuantMath.Scales(a, t0);
        ref float sx = ref QuantMath.ScaledSums(a, t0);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, t0 * os);
        ref byte blk = ref Unsafe.Add(ref grp, 32 * half);
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < nb; b++)
        {
            // The first half's pass brings the group in from DRAM: four tokens of work per line left the hardware
            // prefetcher behind (a 4-token product from DRAM took 2-3x its time from L2).
            if (half == 0) PrefetchBlock(ref Unsafe.Add(ref blk, PrefetchAhead * BlockBytes));
            var dw = Vector512.Create(Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)));
            var d0 = dw * Vector512.Create(dx);
            var d1 = dw * Vector512.Create(Unsafe.Add(ref dx, ds));
            var d2 = dw * Vector512.Create(Unsafe.Add(ref dx, 2 * ds));
            var d3 = dw * Vector512.Create(Unsafe.Add(ref dx, 3 * ds));
            if (HasMin)
            {
                var mw = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64)));
                m0 = Vector256.FusedMultiplyAdd(mw, Vector256.Create(sx), m0);
                m1 = Vector256.FusedMultiplyAdd(mw, Vector256.Create(Unsafe.Add(ref sx, ds)), m1);
                m2 = Vector256.FusedMultiplyAdd(mw, Vector256.Create(Unsafe.Add(ref sx, 2 * ds)), m2);
                m3 = Vector256.FusedMultiplyAdd(mw, Vector256.Create(Unsafe.Add(ref sx, 3 * ds)), m3);
            }
            var h = HasHighBits ? Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, HighBitsOffset)) : default;
            ref byte q = ref Unsafe.Add(ref blk, QuantsOffset);
            ref sbyte x1 = ref Unsafe.Add(ref x, xs);
            ref sbyte x2 = ref Unsafe.Add(ref x, 2 * xs);
            ref sbyte x3 = ref Unsafe.Add(ref x, 3 * xs);
            ref int o1 = ref Unsafe.Add(ref o, os);
            ref int o2 = ref Unsafe.Add(ref o, 2 * os);
            ref int o3 = ref Unsafe.Add(ref o, 3 * os);

            Unpack(Vector256.LoadUnsafe(ref q), h, 0, out var lo, out var hi);
            c00 = Lanes(c00, lo, hi, ref x, ref o, 0, d0);
            c10 = Lanes(c10, lo, hi, ref x1, ref o1, 0, d1);
            c20 = Lanes(c20, lo, hi, ref x2, ref o2, 0, d2);
            c30 = Lanes(c30, lo, hi, ref x3, ref o3, 0, d3);
            Unpack(Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 64)), h, 1, out lo, out hi);
            c01 = Lanes(c01, lo, hi, ref x, ref o, 1, d0);
            c11 = Lanes(c11, lo, hi, ref x1, ref o1, 1, d1);
            c21 = Lanes(c21, lo, hi, ref x2, ref o2, 1, d2);
            c31 = Lanes(c31, lo, hi, ref x3, ref o3, 1, d3);
            Unpack(Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 128)), h, 2, out lo, out hi);
            c02 = Lanes(c02, lo, hi, ref x, ref o, 2, d0);
            c12 = Lanes(c12, lo, hi, ref x1, ref o1, 2, d1);
            c22 = Lanes(c22, lo, hi, ref x2, ref o2, 2, d2);
            c32 = Lanes(c32, lo, hi, ref x3, ref o3, 2, d3);
            Unpack(Vector256.LoadUnsafe(ref Unsafe.Add(ref q, 192)), h, 3, out lo, out hi);
            c03 = Lanes(c03, lo, hi, ref x, ref o, 3, d0);
            c13 = Lanes(c13, lo, hi, ref x1, ref o1, 3, d1);
            c23 = Lanes(c23, lo, hi, ref x2, ref o2, 3, d2);
            c33 = Lanes(c33, lo, hi, ref x3, ref o3, 3, d3);

            blk = ref Unsafe.Add(ref blk, BlockBytes);
            x = ref Unsafe.Add(ref x, 32);
            o = ref Unsafe.Add(ref o, 8);
            dx = ref Unsafe.Add(ref dx, 1);
            sx = ref Unsafe.Add(ref sx, 1);
        }
        Fold(c00, c01, c02, c03, m0).StoreUnsafe(ref tile);
        Fold(c10, c11, c12, c13, m1).StoreUnsafe(ref tile, 16);
        Fold(c20, c21, c22, c23, m2).StoreUnsafe(ref tile, 32);
        Fold(c30, c31, c32, c33, m3).StoreUnsafe(ref tile, 48);
    }
}
