using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>How a 4-bit block type's nibbles map to the unsigned bytes the tile multiplies: value + offset.</summary>
internal interface INibbleLevels
{
    static abstract GgmlType Type { get; }

    /// <summary>The unsigned byte minus the signed level (Q4_0: 8, the nibble's own bias; IQ4_NL: 128).</summary>
    static abstract int Offset { get; }

    /// <summary>Nibbles (0..15 per byte) to level + <see cref="Offset"/>.</summary>
    static abstract Vector256<byte> Map(Vector256<byte> nibbles);
}

/// <summary>Q4_0: the nibble n = q + 8 is already the unsigned operand.</summary>
internal readonly struct Q4_0Levels : INibbleLevels
{
    public static GgmlType Type => GgmlType.Q4_0;
    public static int Offset => 8;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Map(Vector256<byte> nibbles) => nibbles;
}

/// <summary>IQ4_NL: ggml's 16 non-linear levels + 128, one vpshufb per vector.</summary>
internal readonly struct IQ4_NLLevels : INibbleLevels
{

    public static GgmlType Type => GgmlType.IQ4_NL;
    public static int Offset => 128;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    // A constant vector, not a static readonly field: the CLI compiles tile methods once, fully optimised, without the
    // tier-1 rejit that would fold such a field, and the field's load in Tile4 halved IQ4_NL's prefill through the runtime.
    public static Vector256<byte> Map(Vector256<byte> nibbles) => Avx2.Shuffle(Vector256.Create(
        (byte)1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241,
        1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241), nibbles);
}

/// <summary>
/// 4-bit block weights (Q4_0, IQ4_NL: 18-byte blocks of an f16 scale and 16 nibble bytes) repacked at load for a
/// register tile of 16 rows × up to 4 tokens, nibbles unpacked in registers (<typeparamref name="T"/> maps them)
/// and multiplied with AVX-VNNI vpdpbusd (u8 weight × s8 activation).
/// </summary>
/// <remarks>
/// Layout: groups of 16 rows (the last one padded with zero rows); inside a group, block after block
/// (32 columns), each <see cref="BlockBytes"/> long:
/// <list type="bullet">
/// <item>bytes 0..63: the 16 rows' scales d as f32 (widened from f16 once, here);</item>
/// <item>bytes 64 + 64·s .. (step s = 0..3): bytes 4s..4s+3 of the 16 nibble bytes of rows 0..15, four per row.
/// Their low nibbles are elements 4s..4s+3 of the block, their high nibbles elements 16+4s..16+4s+3.</item>
/// </list>
/// The multiplied bytes are level + offset (Q4_0: the nibble n = q + 8; IQ4_NL: the table's level + 128); each row's
/// integer lane starts at −offset·Σx of the block (<see cref="PreparedActivations.OffsetSums"/>), so it ends exactly
/// at Σ level·x. Per (row, token) the float work is the row kernels' AVX-512 order (<see cref="Q4_0Kernel"/>,
/// <see cref="Block32Kernel{T}"/> for IQ4_NL), which is llama.cpp's: acc = fma(f32(Σ level·x), d_w·d_x, acc), one
/// block after another, whatever the tile or token count.
/// </remarks>
internal sealed class RepackedNibbles<T> : RepackedWeights where T : INibbleLevels
{
    public const int BlockBytes = 64 + GroupRows * 16;

    public int Blocks { get; }

    /// <summary>Whether this machine runs the repacked kernel (AVX-512 path with AVX-VNNI).</summary>
    public static bool IsSupported => AvxVnni.IsSupported && KernelDispatch.Best == KernelPath.Avx512;

    private RepackedNibbles(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    /// <summary>The repacked copy of <paramref name="w"/>, or null when it does not fit one array.</summary>
    public static RepackedNibbles<T>? Create(WeightMatrix w)
    {
        if (w.Type != T.Type) throw new ArgumentException($"{w} is not {T.Type}", nameof(w));
        int blocks = w.Cols / 32;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedNibbles<T>(w.Rows, blocks);
        int rb = w.RowBytes;
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var src = w.RowSpan(g * GroupRows, rows);
            ref byte dst = ref r.Group(g);
            CopyBlocks32(src, rb, rows, blocks, BlockBytes, steps: 4, flip: 0, padding: 0, ref dst);
        }
        return r;
    }

    /// <summary>Offset of block b's elements 0..15 in a token's activations (<see cref="PreparedActivations.QuadInterleaved"/> order); elements 16..31 follow at <see cref="HighOffset"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint LowOffset(int b, int quadBlocks) => b < quadBlocks ? 128 * (b >> 2) + 16 * (b & 3) : 32 * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint HighOffset(int b, int quadBlocks) => b < quadBlocks ? 64 : 16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<sbyte> X4(ref sbyte x, nint offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Join(Vector256<int> lo, Vector256<int> hi) => Avx512F.InsertVector256(lo.ToVector512Unsafe(), hi, 1);

    /// <summary>Rows 0..15 × token t into tile[r]: one FMA per block on 16 rows, the integer sums from 16 vpdpbusd.</summary>
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks, quadBlocks = a.QuadInterleaved ? nb & ~3 : 0;
        ref sbyte x = ref QuantMath.Quants(a, t);
        ref float dx = ref QuantMath.Scales(a, t);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * (a.Cols / 4));
        ref byte blk = ref grp;
        var m = Vector256.Create((byte)0x0F);
        Vector512<float> acc = default;
        for (int b = 0; b < nb; b++)
        {
            ref sbyte xl = ref Unsafe.Add(ref x, LowOffset(b, quadBlocks));
            ref sbyte xh = ref Unsafe.Add(ref xl, HighOffset(b, quadBlocks));
            var off = Vector256.Create(Unsafe.Add(ref o, b));
            Vector256<int> lo0 = off, hi0 = off, lo1 = default, hi1 = default; // two chains per half: the dp latency
            for (int s = 0; s < 4; s++)
            {
                var v0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64 + 64 * s));
                var v1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96 + 64 * s));
                var pl = X4(ref xl, 4 * s);
                var ph = X4(ref xh, 4 * s);
                lo0 = Dp(lo0, T.Map(v0 & m), pl);
                hi0 = Dp(hi0, T.Map(v1 & m), pl);
                lo1 = Dp(lo1, T.Map((v0.AsUInt16() >> 4).AsByte() & m), ph);
                hi1 = Dp(hi1, T.Map((v1.AsUInt16() >> 4).AsByte() & m), ph);
            }
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)) * Vector512.Create(Unsafe.Add(ref dx, b));
            acc = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(lo0 + lo1, hi0 + hi1)), d, acc);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
        }
        acc.StoreUnsafe(ref tile);
    }

    /// <summary>
    /// Rows 0..15 × tokens t0..t0+3 into tile[k·16 + r]: each nibble vector is unpacked once for four tokens.
    /// Each (row, token)'s float operations are <see cref="Tile1"/>'s.
    /// </summary>
    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, quadBlocks = a.QuadInterleaved ? nb & ~3 : 0;
        nint xs = a.Cols, ds = a.ScaleStride, os = a.Cols / 4;
        ref sbyte x = ref QuantMath.Quants(a, t0);
        ref float dx = ref QuantMath.Scales(a, t0);
        ref int o = ref Unsafe.Add(ref a.OffsetSums.Ref, t0 * os);
        ref byte blk = ref grp;
        var m = Vector256.Create((byte)0x0F);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default;
        for (int b = 0; b < nb; b++)
        {
            ref sbyte xl = ref Unsafe.Add(ref x, LowOffset(b, quadBlocks));
            nint h = HighOffset(b, quadBlocks);
            Vector256<int> l0 = Vector256.Create(Unsafe.Add(ref o, b)), u0 = l0;
            Vector256<int> l1 = Vector256.Create(Unsafe.Add(ref o, os + b)), u1 = l1;
            Vector256<int> l2 = Vector256.Create(Unsafe.Add(ref o, 2 * os + b)), u2 = l2;
            Vector256<int> l3 = Vector256.Create(Unsafe.Add(ref o, 3 * os + b)), u3 = l3;
            for (int s = 0; s < 4; s++)
            {
                var v0 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64 + 64 * s));
                var v1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96 + 64 * s));
                var n0 = T.Map(v0 & m);
                var n1 = T.Map(v1 & m);
                nint p = 4 * s;
                var x0 = X4(ref xl, p); var x1 = X4(ref xl, xs + p); var x2 = X4(ref xl, 2 * xs + p); var x3 = X4(ref xl, 3 * xs + p);
                l0 = Dp(l0, n0, x0); u0 = Dp(u0, n1, x0);
                l1 = Dp(l1, n0, x1); u1 = Dp(u1, n1, x1);
                l2 = Dp(l2, n0, x2); u2 = Dp(u2, n1, x2);
                l3 = Dp(l3, n0, x3); u3 = Dp(u3, n1, x3);
                n0 = T.Map((v0.AsUInt16() >> 4).AsByte() & m);
                n1 = T.Map((v1.AsUInt16() >> 4).AsByte() & m);
                p += h;
                x0 = X4(ref xl, p); x1 = X4(ref xl, xs + p); x2 = X4(ref xl, 2 * xs + p); x3 = X4(ref xl, 3 * xs + p);
                l0 = Dp(l0, n0, x0); u0 = Dp(u0, n1, x0);
                l1 = Dp(l1, n0, x1); u1 = Dp(u1, n1, x1);
                l2 = Dp(l2, n0, x2); u2 = Dp(u2, n1, x2);
                l3 = Dp(l3, n0, x3); u3 = Dp(u3, n1, x3);
            }
            var dw = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            c0 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(l0, u0)), dw * Vector512.Create(Unsafe.Add(ref dx, b)), c0);
            c1 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(l1, u1)), dw * Vector512.Create(Unsafe.Add(ref dx, ds + b)), c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(l2, u2)), dw * Vector512.Create(Unsafe.Add(ref dx, 2 * ds + b)), c2);
            c3 = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Join(l3, u3)), dw * Vector512.Create(Unsafe.Add(ref dx, 3 * ds + b)), c3);
            blk = ref Unsafe.Add(ref blk, BlockBytes);
        }
        c0.StoreUnsafe(ref tile);
        c1.StoreUnsafe(ref tile, 16);
        c2.StoreUnsafe(ref tile, 32);
        c3.StoreUnsafe(ref tile, 48);
    }
}
