using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q6_K weights repacked at load for a register tile of 8 rows × 2 tokens, the 6-bit values rebuilt
/// from their nibble and 2-bit planes per step and multiplied unsigned (0..63) with AVX-VNNI vpdpbusd;
/// the −32 offset enters as each 16-value sub-block's integer accumulator start, −32·Σx.
/// </summary>
/// <remarks>
/// Per group of 16 rows and super-block b (256 columns), <see cref="BlockBytes"/> bytes:
/// <list type="bullet">
/// <item>0..63: d of the 16 rows (f32); 64..319: the int8 scales, sub-block j at 64 + 16j + row;</item>
/// <item>320 + 192·(8n + s): half n (128 columns), step s: 64 bytes of ql[64n + 4s..] of rows 0..15, 64 of
/// ql[64n + 32 + 4s..], 64 of qh[32n + 4s..] (ggml's planes, 4 bytes per row): columns 128n + 32k + 4s..
/// for k = 0..3, sub-block 8n + 2k + s/4.</item>
/// </list>
/// Per (row, token) the float work is ggml's: acc = fma(d·d_x, Σ_j sc_j·(Σq·x − 32·Σx), acc), block after block.
/// </remarks>
internal sealed class RepackedQ6_K : RepackedWeights
{
    public const int BlockBytes = 320 + 2 * 8 * 192;
    private const int SourceBlockBytes = 210;

    public int Blocks { get; }

    public static bool IsSupported => RepackedQ8_0.IsSupported;

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
                    for (int j = 0; j < 16; j++) Unsafe.Add(ref blk, 64 + 16 * j + row) = pad ? (byte)0 : sb[192 + j];
                    for (int n = 0; n < 2; n++)
                        for (int s = 0; s < 8; s++)
                        {
                            ref byte step = ref Unsafe.Add(ref blk, 320 + 192 * (8 * n + s) + 4 * row);
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
    private static Vector256<sbyte> X4(ref sbyte x, int offset) => Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<sbyte, byte>(ref Unsafe.Add(ref x, offset)))).AsSByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Dp(Vector256<int> acc, Vector256<byte> w, Vector256<sbyte> x) => AvxVnni.MultiplyWideningAndAdd(acc, w, x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Scales8(ref byte blk, int j, int half) =>
        Avx2.ConvertToVector256Int32(Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref blk, 64 + 16 * j + 8 * half))).AsSByte());

    /// <summary>The four 6-bit value vectors (k = 0..3) of one step for 8 rows.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Unpack(ref byte step, out Vector256<byte> e0, out Vector256<byte> e1, out Vector256<byte> e2, out Vector256<byte> e3)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var qa = Vector256.LoadUnsafe(ref step);
        var qb = Vector256.LoadUnsafe(ref Unsafe.Add(ref step, 64));
        var h = Vector256.LoadUnsafe(ref Unsafe.Add(ref step, 128));
        var m30 = Vector256.Create((byte)0x30);
        e0 = (qa & m4) | ((h & Vector256.Create((byte)0x03)).AsUInt16() << 4).AsByte();
        e1 = (qb & m4) | ((h & Vector256.Create((byte)0x0C)).AsUInt16() << 2).AsByte();
        e2 = ((qa.AsUInt16() >> 4).AsByte() & m4) | (h & m30);
        e3 = ((qb.AsUInt16() >> 4).AsByte() & m4) | ((h.AsUInt16() >> 2).AsByte() & m30);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Offset(ref short sums16, int j) => Vector256.Create(-32 * Unsafe.Add(ref sums16, j));

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        for (int half = 0; half < 2; half++)
        {
            Two(ref grp, a, t0, half, ref Unsafe.Add(ref tile, 8 * half));
            Two(ref grp, a, t0 + 2, half, ref Unsafe.Add(ref tile, 32 + 8 * half));
        }
    }

    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        One(ref grp, a, t, 0, ref tile);
        One(ref grp, a, t, 1, ref Unsafe.Add(ref tile, 8));
    }

    /// <summary>8 rows (half of the group) × tokens t0, t0+1 into tile[r], tile[16 + r].</summary>
    private static void Two(ref byte grp, PreparedActivations a, int t0, int half, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte xa = ref QuantMath.Quants(a, t0);
        ref sbyte xb = ref Unsafe.Add(ref xa, a.Cols);
        ref float da = ref QuantMath.Scales(a, t0);
        ref float db = ref Unsafe.Add(ref da, a.ScaleStride);
        ref short ba = ref QuantMath.Sums16(a, t0);
        ref short bb = ref Unsafe.Add(ref ba, nb * 16);
        Vector256<float> fa = default, fb = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            Vector256<int> sa = default, sbv = default;
            for (int n = 0; n < 2; n++)
                for (int sh = 0; sh < 2; sh++)
                {
                    int j = 8 * n + sh, sj = 16 * b + j;
                    Vector256<int> a0 = Offset(ref ba, sj), a1 = Offset(ref ba, sj + 2), a2 = Offset(ref ba, sj + 4), a3 = Offset(ref ba, sj + 6);
                    Vector256<int> b0 = Offset(ref bb, sj), b1 = Offset(ref bb, sj + 2), b2 = Offset(ref bb, sj + 4), b3 = Offset(ref bb, sj + 6);
                    for (int s = 4 * sh; s < 4 * sh + 4; s++)
                    {
                        Unpack(ref Unsafe.Add(ref blk, 320 + 192 * (8 * n + s) + 32 * half), out var e0, out var e1, out var e2, out var e3);
                        int xo = 256 * b + 128 * n + 4 * s;
                        a0 = Dp(a0, e0, X4(ref xa, xo)); b0 = Dp(b0, e0, X4(ref xb, xo));
                        a1 = Dp(a1, e1, X4(ref xa, xo + 32)); b1 = Dp(b1, e1, X4(ref xb, xo + 32));
                        a2 = Dp(a2, e2, X4(ref xa, xo + 64)); b2 = Dp(b2, e2, X4(ref xb, xo + 64));
                        a3 = Dp(a3, e3, X4(ref xa, xo + 96)); b3 = Dp(b3, e3, X4(ref xb, xo + 96));
                    }
                    var c0 = Scales8(ref blk, j, half);
                    var c1 = Scales8(ref blk, j + 2, half);
                    var c2 = Scales8(ref blk, j + 4, half);
                    var c3 = Scales8(ref blk, j + 6, half);
                    sa += (a0 * c0 + a1 * c1) + (a2 * c2 + a3 * c3);
                    sbv += (b0 * c0 + b1 * c1) + (b2 * c2 + b3 * c3);
                }
            var d = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32 * half)));
            fa = Vector256.FusedMultiplyAdd(d * Vector256.Create(Unsafe.Add(ref da, b)), Vector256.ConvertToSingle(sa), fa);
            fb = Vector256.FusedMultiplyAdd(d * Vector256.Create(Unsafe.Add(ref db, b)), Vector256.ConvertToSingle(sbv), fb);
        }
        fa.StoreUnsafe(ref tile, 0);
        fb.StoreUnsafe(ref tile, 16);
    }

    /// <summary>8 rows (half of the group) × token t into tile[r]: <see cref="Two"/>'s sequence for one token.</summary>
    private static void One(ref byte grp, PreparedActivations a, int t, int half, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte xa = ref QuantMath.Quants(a, t);
        ref float da = ref QuantMath.Scales(a, t);
        ref short ba = ref QuantMath.Sums16(a, t);
        Vector256<float> fa = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            Vector256<int> sa = default;
            for (int n = 0; n < 2; n++)
                for (int sh = 0; sh < 2; sh++)
                {
                    int j = 8 * n + sh, sj = 16 * b + j;
                    Vector256<int> a0 = Offset(ref ba, sj), a1 = Offset(ref ba, sj + 2), a2 = Offset(ref ba, sj + 4), a3 = Offset(ref ba, sj + 6);
                    for (int s = 4 * sh; s < 4 * sh + 4; s++)
                    {
                        Unpack(ref Unsafe.Add(ref blk, 320 + 192 * (8 * n + s) + 32 * half), out var e0, out var e1, out var e2, out var e3);
                        int xo = 256 * b + 128 * n + 4 * s;
                        a0 = Dp(a0, e0, X4(ref xa, xo));
                        a1 = Dp(a1, e1, X4(ref xa, xo + 32));
                        a2 = Dp(a2, e2, X4(ref xa, xo + 64));
                        a3 = Dp(a3, e3, X4(ref xa, xo + 96));
                    }
                    sa += (a0 * Scales8(ref blk, j, half) + a1 * Scales8(ref blk, j + 2, half)) + (a2 * Scales8(ref blk, j + 4, half) + a3 * Scales8(ref blk, j + 6, half));
                }
            var d = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32 * half)));
            fa = Vector256.FusedMultiplyAdd(d * Vector256.Create(Unsafe.Add(ref da, b)), Vector256.ConvertToSingle(sa), fa);
        }
        fa.StoreUnsafe(ref tile, 0);
    }
}
