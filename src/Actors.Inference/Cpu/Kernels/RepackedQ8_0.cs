using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Actors.Inference.Gguf;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q8_0 weights repacked at load for a register tile of 16 rows × up to 4 tokens, multiplied with
/// AVX-VNNI vpdpbusd (u8 × s8, four products per int32 lane, no saturation).
/// </summary>
/// <remarks>
/// Layout: groups of 16 rows (the last one padded with zero rows); inside a group, block after block
/// (32 columns), each <see cref="BlockBytes"/> long:
/// <list type="bullet">
/// <item>bytes 0..63: the 16 rows' scales d as f32 (widened from f16 once, here);</item>
/// <item>bytes 64 + 64·s .. (step s = 0..7): columns 4s..4s+3 of rows 0..15, four bytes per row, stored as
/// w + 128 (w xor 0x80) so they are vpdpbusd's unsigned operand.</item>
/// </list>
/// One 32-byte load is then the same four columns of eight rows, and one broadcast of four activation
/// bytes feeds both halves of the group. Σ(w+128)·x = Σw·x + 128·Σx: the integer accumulator starts at
/// −128·Σx (<see cref="PreparedActivations.OffsetSums"/>), so the block's integer sum is exact.
/// Per (row, token) the float work is one fixed chain over blocks: acc = fma(float(Σ_b), d_w·d_x, acc),
/// lane by lane, whatever the tile, the token count or the row split: results are batch-invariant.
/// The integer sums may be formed in any order (they are exact).
/// </remarks>
internal sealed class RepackedQ8_0 : RepackedWeights
{
    public const int BlockBytes = 64 + GroupRows * 32;
    private const int SourceBlockBytes = 34;

    public int Blocks { get; }

    /// <summary>Whether this machine runs the repacked kernel (AVX-512 path with AVX-VNNI).</summary>
    public static bool IsSupported => AvxVnni.IsSupported && KernelDispatch.Best == KernelPath.Avx512;

    private RepackedQ8_0(int rows, int blocks) : base(rows, blocks * BlockBytes) => Blocks = blocks;

    /// <summary>The repacked copy of <paramref name="w"/>, or null when it does not fit one array.</summary>
    public static RepackedQ8_0? Create(WeightMatrix w)
    {
        if (w.Type != GgmlType.Q8_0) throw new ArgumentException($"{w} is not Q8_0", nameof(w));
        int blocks = w.Cols / 32;
        if (!Fits(w.Rows, (long)blocks * BlockBytes)) return null;
        var r = new RepackedQ8_0(w.Rows, blocks);
        int rb = w.RowBytes;
        var rowOffsets = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7) * rb;
        var flip = Vector256.Create(unchecked((int)0x80808080));
        for (int g = 0; g < r.Groups; g++)
        {
            int rows = Math.Min(GroupRows, w.Rows - g * GroupRows);
            var src = w.RowSpan(g * GroupRows, rows);
            ref byte dst = ref r.Group(g);
            if (rows == GroupRows && Avx2.IsSupported)
            {
                // Step s of block b is dword s of the block's quants in each of the 16 rows: two 8-row gathers.
                unsafe
                {
                    fixed (byte* p = src)
                    {
                        for (int b = 0; b < blocks; b++)
                        {
                            ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                            byte* q = p + b * SourceBlockBytes;
                            for (int row = 0; row < GroupRows; row++)
                                Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), (float)BitConverter.UInt16BitsToHalf(Unsafe.ReadUnaligned<ushort>(q + row * rb)));
                            for (int st = 0; st < 8; st++)
                            {
                                ref int o = ref Unsafe.As<byte, int>(ref Unsafe.Add(ref blk, 64 + 64 * st));
                                (Avx2.GatherVector256((int*)(q + 2 + 4 * st), rowOffsets, 1) ^ flip).StoreUnsafe(ref o);
                                (Avx2.GatherVector256((int*)(q + 8 * rb + 2 + 4 * st), rowOffsets, 1) ^ flip).StoreUnsafe(ref o, 8);
                            }
                        }
                    }
                }
                continue;
            }
            for (int b = 0; b < blocks; b++)
            {
                ref byte blk = ref Unsafe.Add(ref dst, (nint)b * BlockBytes);
                for (int row = 0; row < GroupRows; row++)
                {
                    if (row >= rows)
                    {
                        // Padding rows: d = 0 and w = 0 (stored as 128), so they add exactly zero.
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), 0f);
                        for (int st = 0; st < 8; st++) Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 64 * st + 4 * row), 0x80808080u);
                        continue;
                    }
                    var sb = src.Slice(row * rb + b * SourceBlockBytes, SourceBlockBytes);
                    Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 4 * row), (float)BitConverter.UInt16BitsToHalf(MemoryMarshal.Read<ushort>(sb)));
                    for (int st = 0; st < 8; st++)
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref blk, 64 + 64 * st + 4 * row), MemoryMarshal.Read<uint>(sb.Slice(2 + 4 * st)) ^ 0x80808080u);
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
    private static Vector256<float> Fold(Vector256<float> acc, Vector256<int> isum, Vector256<float> dw, float dx) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(isum), dw * Vector256.Create(dx), acc);

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        int nb = a.Blocks, cols = a.Cols, ss = a.ScaleStride;
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref sbyte x1 = ref Unsafe.Add(ref x0, cols);
        ref sbyte x2 = ref Unsafe.Add(ref x1, cols);
        ref sbyte x3 = ref Unsafe.Add(ref x2, cols);
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref int o0 = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t0 * ss);
        Vector256<float> f0l = default, f0h = default, f1l = default, f1h = default, f2l = default, f2h = default, f3l = default, f3h = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            var i0l = Vector256.Create(Unsafe.Add(ref o0, b));
            var i1l = Vector256.Create(Unsafe.Add(ref o0, ss + b));
            var i2l = Vector256.Create(Unsafe.Add(ref o0, 2 * ss + b));
            var i3l = Vector256.Create(Unsafe.Add(ref o0, 3 * ss + b));
            Vector256<int> i0h = i0l, i1h = i1l, i2h = i2l, i3h = i3l;
            int xo = 32 * b;
            for (int s = 0; s < 8; s++, xo += 4)
            {
                var wl = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64 + 64 * s));
                var wh = Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96 + 64 * s));
                var x = X4(ref x0, xo);
                i0l = Dp(i0l, wl, x); i0h = Dp(i0h, wh, x);
                x = X4(ref x1, xo);
                i1l = Dp(i1l, wl, x); i1h = Dp(i1h, wh, x);
                x = X4(ref x2, xo);
                i2l = Dp(i2l, wl, x); i2h = Dp(i2h, wh, x);
                x = X4(ref x3, xo);
                i3l = Dp(i3l, wl, x); i3h = Dp(i3h, wh, x);
            }
            var dl = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var dh = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32)));
            float s0 = Unsafe.Add(ref d0, b), s1 = Unsafe.Add(ref d0, ss + b), s2 = Unsafe.Add(ref d0, 2 * ss + b), s3 = Unsafe.Add(ref d0, 3 * ss + b);
            f0l = Fold(f0l, i0l, dl, s0); f0h = Fold(f0h, i0h, dh, s0);
            f1l = Fold(f1l, i1l, dl, s1); f1h = Fold(f1h, i1h, dh, s1);
            f2l = Fold(f2l, i2l, dl, s2); f2h = Fold(f2h, i2h, dh, s2);
            f3l = Fold(f3l, i3l, dl, s3); f3h = Fold(f3h, i3h, dh, s3);
        }
        f0l.StoreUnsafe(ref tile, 0); f0h.StoreUnsafe(ref tile, 8);
        f1l.StoreUnsafe(ref tile, 16); f1h.StoreUnsafe(ref tile, 24);
        f2l.StoreUnsafe(ref tile, 32); f2h.StoreUnsafe(ref tile, 40);
        f3l.StoreUnsafe(ref tile, 48); f3h.StoreUnsafe(ref tile, 56);
    }

    // Even and odd steps in separate integer chains (exact, so the bits match Tile4).
    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile)
    {
        int nb = a.Blocks;
        ref sbyte x0 = ref QuantMath.Quants(a, t);
        ref float d0 = ref QuantMath.Scales(a, t);
        ref int o0 = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)t * a.ScaleStride);
        Vector256<float> fl = default, fh = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            var il = Vector256.Create(Unsafe.Add(ref o0, b));
            var ih = il;
            Vector256<int> jl = default, jh = default;
            int xo = 32 * b;
            for (int s = 0; s < 8; s += 2, xo += 8)
            {
                var x = X4(ref x0, xo);
                il = Dp(il, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 64 + 64 * s)), x);
                ih = Dp(ih, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 96 + 64 * s)), x);
                var y = X4(ref x0, xo + 4);
                jl = Dp(jl, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 128 + 64 * s)), y);
                jh = Dp(jh, Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 160 + 64 * s)), y);
            }
            float s0 = Unsafe.Add(ref d0, b);
            fl = Fold(fl, il + jl, Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk)), s0);
            fh = Fold(fh, ih + jh, Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32))), s0);
        }
        fl.StoreUnsafe(ref tile, 0);
        fh.StoreUnsafe(ref tile, 8);
    }
}
