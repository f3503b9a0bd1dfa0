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
/// bytes feeds the group. Σ(w+128)·x = Σw·x + 128·Σx: each four-value integer lane starts at −128·Σx
/// (<see cref="PreparedActivations.OffsetSums"/>), so it is exact.
/// Per (row, token) the float work is llama.cpp's for Q8_0 on this CPU (tinyBLAS, batch or single token
/// alike): eight f32 lanes, lane s = values 4s..4s+3 of each block, lane = fma(f32(lane integer), d_w·d_x, lane)
/// block after block, then tinyBLAS's horizontal sum; the same whatever the tile, the token count or the
/// row split, so results are batch-invariant.
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

    protected override void Tile4(ref byte grp, PreparedActivations a, int t0, ref float tile)
    {
        // Eight lanes per (row, token) leave room for two tokens × eight rows at a time: four passes.
        for (int half = 0; half < 2; half++)
        {
            Pass(ref grp, a, t0, half, t0 + 1, half, ref Unsafe.Add(ref tile, 8 * half), ref Unsafe.Add(ref tile, 16 + 8 * half));
            Pass(ref grp, a, t0 + 2, half, t0 + 3, half, ref Unsafe.Add(ref tile, 32 + 8 * half), ref Unsafe.Add(ref tile, 48 + 8 * half));
        }
    }

    protected override void Tile1(ref byte grp, PreparedActivations a, int t, ref float tile) =>
        Pass(ref grp, a, t, 0, t, 1, ref tile, ref Unsafe.Add(ref tile, 8));

    /// <summary>
    /// Rows 8·hA.. of the group × token tA into tileA[0..7] and rows 8·hB.. × token tB into tileB[0..7], each
    /// in tinyBLAS's order: eight f32 lanes per (row, token), lane s = step s (values 4s..4s+3 of every block),
    /// lane_s = fma(f32(Σ of its four products), d_w·d_x, lane_s) block after block, then
    /// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).
    /// </summary>
    private static void Pass(ref byte grp, PreparedActivations a, int tA, int hA, int tB, int hB, ref float tileA, ref float tileB)
    {
        int nb = a.Blocks, q4 = a.Cols / 4;
        ref sbyte xA = ref QuantMath.Quants(a, tA);
        ref sbyte xB = ref QuantMath.Quants(a, tB);
        ref float dxA = ref QuantMath.Scales(a, tA);
        ref float dxB = ref QuantMath.Scales(a, tB);
        ref int oA = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)tA * q4);
        ref int oB = ref Unsafe.Add(ref a.OffsetSums.Ref, (nint)tB * q4);
        int wA = 64 + 32 * hA, wB = 64 + 32 * hB;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default, b4 = default, b5 = default, b6 = default, b7 = default;
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            var dA = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32 * hA))) * Vector256.Create(Unsafe.Add(ref dxA, b));
            var dB = Vector256.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 32 * hB))) * Vector256.Create(Unsafe.Add(ref dxB, b));
            int xo = 32 * b, oo = 8 * b;
            a0 = Lane(a0, ref blk, wA + 0, ref xA, xo + 0, Unsafe.Add(ref oA, oo + 0), dA);
            b0 = Lane(b0, ref blk, wB + 0, ref xB, xo + 0, Unsafe.Add(ref oB, oo + 0), dB);
            a1 = Lane(a1, ref blk, wA + 64, ref xA, xo + 4, Unsafe.Add(ref oA, oo + 1), dA);
            b1 = Lane(b1, ref blk, wB + 64, ref xB, xo + 4, Unsafe.Add(ref oB, oo + 1), dB);
            a2 = Lane(a2, ref blk, wA + 128, ref xA, xo + 8, Unsafe.Add(ref oA, oo + 2), dA);
            b2 = Lane(b2, ref blk, wB + 128, ref xB, xo + 8, Unsafe.Add(ref oB, oo + 2), dB);
            a3 = Lane(a3, ref blk, wA + 192, ref xA, xo + 12, Unsafe.Add(ref oA, oo + 3), dA);
            b3 = Lane(b3, ref blk, wB + 192, ref xB, xo + 12, Unsafe.Add(ref oB, oo + 3), dB);
            a4 = Lane(a4, ref blk, wA + 256, ref xA, xo + 16, Unsafe.Add(ref oA, oo + 4), dA);
            b4 = Lane(b4, ref blk, wB + 256, ref xB, xo + 16, Unsafe.Add(ref oB, oo + 4), dB);
            a5 = Lane(a5, ref blk, wA + 320, ref xA, xo + 20, Unsafe.Add(ref oA, oo + 5), dA);
            b5 = Lane(b5, ref blk, wB + 320, ref xB, xo + 20, Unsafe.Add(ref oB, oo + 5), dB);
            a6 = Lane(a6, ref blk, wA + 384, ref xA, xo + 24, Unsafe.Add(ref oA, oo + 6), dA);
            b6 = Lane(b6, ref blk, wB + 384, ref xB, xo + 24, Unsafe.Add(ref oB, oo + 6), dB);
            a7 = Lane(a7, ref blk, wA + 448, ref xA, xo + 28, Unsafe.Add(ref oA, oo + 7), dA);
            b7 = Lane(b7, ref blk, wB + 448, ref xB, xo + 28, Unsafe.Add(ref oB, oo + 7), dB);
        }
        (((a0 + a4) + (a2 + a6)) + ((a1 + a5) + (a3 + a7))).StoreUnsafe(ref tileA);
        (((b0 + b4) + (b2 + b6)) + ((b1 + b5) + (b3 + b7))).StoreUnsafe(ref tileB);
    }

    /// <summary>One step of one block: lane += f32(offset + Σ(w+128)·x over four values)·(d_w·d_x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Lane(Vector256<float> lane, ref byte blk, int w, ref sbyte x, int xo, int offset, Vector256<float> d) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(Dp(Vector256.Create(offset), Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, w)), X4(ref x, xo))), d, lane);
}
