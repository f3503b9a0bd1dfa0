using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Q4_K's batch order: what llama.cpp's repacked q4_K 8×8 gemm (ggml_gemm_q4_K_8x8_q8_K, AVX-512 build)
/// computes for the tokens it takes four at a time. It folds into f32 once per pair of sub-blocks (64
/// columns) instead of once per block as its gemv does: per (row, token), for block b and pair p = 0..3,
/// acc = fma(f32(sc_2p·Σq·x + sc_2p+1·Σq·x), d·d_x, acc) and mins = fma(f32(m_2p·Σx + m_2p+1·Σx), dmin·d_x, mins),
/// then acc − mins. Each (row, token) depends on that token alone, so any four tokens can share a tile.
/// </summary>
internal sealed partial class RepackedQ4_K
{
    protected override bool HasBatchOrder => true;

    /// <remarks>
    /// The float accumulators and the per-block products d·d_x, dmin·d_x live in memory (the tile and a stack
    /// scratch), read once per chunk by the FMA: held in registers they took ymm0-15 from the eight vpdpbusd
    /// accumulators, and the JIT then copied each accumulator to a low register and back around every vpdpbusd
    /// (two moves per product, plus spills). Both 8-row halves run per chunk, back to back, and the mins of all
    /// 16 rows in 512-bit vectors. The operations per (row, token) and their order are llama.cpp's, unchanged.
    /// </remarks>
    protected override unsafe void TileBatch(ref byte grp, PreparedActivations a, ref int t, ref float tile)
    {
        int nb = a.Blocks;
        int t0 = t, t1 = Unsafe.Add(ref t, 1), t2 = Unsafe.Add(ref t, 2), t3 = Unsafe.Add(ref t, 3);
        ref sbyte x0 = ref QuantMath.Quants(a, t0);
        ref sbyte x1 = ref QuantMath.Quants(a, t1);
        ref sbyte x2 = ref QuantMath.Quants(a, t2);
        ref sbyte x3 = ref QuantMath.Quants(a, t3);
        ref float d0 = ref QuantMath.Scales(a, t0);
        ref float d1 = ref QuantMath.Scales(a, t1);
        ref float d2 = ref QuantMath.Scales(a, t2);
        ref float d3 = ref QuantMath.Scales(a, t3);
        ref int p0 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t0 * nb * 4);
        ref int p1 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t1 * nb * 4);
        ref int p2 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t2 * nb * 4);
        ref int p3 = ref Unsafe.Add(ref a.PairSums.Ref, (nint)t3 * nb * 4);
        // Token k's values accumulate in the tile at 16k (rows 0..15), its mins at m + 16k; e + 16k holds d·d_x of
        // the 16 rows, e + 64 + 16k dmin·d_x.
        float* m = stackalloc float[64];
        float* e = stackalloc float[128];
        for (int k = 0; k < 4; k++)
        {
            Vector512<float>.Zero.StoreUnsafe(ref tile, (nuint)(16 * k));
            Vector512<float>.Zero.Store(m + 16 * k);
        }
        var mask = Vector256.Create((byte)0x0F);
        for (int b = 0; b < nb; b++)
        {
            ref byte blk = ref Unsafe.Add(ref grp, (nint)b * BlockBytes);
            var d = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref blk));
            var dmin = Vector512.LoadUnsafe(ref Unsafe.As<byte, float>(ref Unsafe.Add(ref blk, 64)));
            float s0 = Unsafe.Add(ref d0, b), s1 = Unsafe.Add(ref d1, b), s2 = Unsafe.Add(ref d2, b), s3 = Unsafe.Add(ref d3, b);
            (d * Vector512.Create(s0)).Store(e); (d * Vector512.Create(s1)).Store(e + 16);
            (d * Vector512.Create(s2)).Store(e + 32); (d * Vector512.Create(s3)).Store(e + 48);
            (dmin * Vector512.Create(s0)).Store(e + 64); (dmin * Vector512.Create(s1)).Store(e + 80);
            (dmin * Vector512.Create(s2)).Store(e + 96); (dmin * Vector512.Create(s3)).Store(e + 112);
            for (int c = 0; c < 4; c++)
            {
                // Both halves of a chunk back to back: the second reads the cache lines the first just brought in.
                for (int half = 0; half < 2; half++)
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
                    int o = 8 * half;
                    FoldAt(ref tile, (nuint)o, l0 * scl + h0 * sch, e + o);
                    FoldAt(ref tile, (nuint)(16 + o), l1 * scl + h1 * sch, e + 16 + o);
                    FoldAt(ref tile, (nuint)(32 + o), l2 * scl + h2 * sch, e + 32 + o);
                    FoldAt(ref tile, (nuint)(48 + o), l3 * scl + h3 * sch, e + 48 + o);
                }
                // The mins of all 16 rows at once: one 512-bit vpmaddwd, convert and FMA per token.
                int pc = 4 * b + c;
                var mp = Avx512BW.ConvertToVector512Int16(Vector256.LoadUnsafe(ref Unsafe.Add(ref blk, 256 + 32 * c))).AsInt16();
                MinsAt(m, mp, Unsafe.Add(ref p0, pc), e + 64);
                MinsAt(m + 16, mp, Unsafe.Add(ref p1, pc), e + 80);
                MinsAt(m + 32, mp, Unsafe.Add(ref p2, pc), e + 96);
                MinsAt(m + 48, mp, Unsafe.Add(ref p3, pc), e + 112);
            }
        }
        for (int k = 0; k < 4; k++)
            (Vector512.LoadUnsafe(ref tile, (nuint)(16 * k)) - Vector512.Load(m + 16 * k)).StoreUnsafe(ref tile, (nuint)(16 * k));
    }

    /// <summary>acc[at..at+8] = fma(f32(sum), scale, acc[at..at+8]).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void FoldAt(ref float acc, nuint at, Vector256<int> sum, float* scale) =>
        Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(sum), Vector256.Load(scale), Vector256.LoadUnsafe(ref acc, at)).StoreUnsafe(ref acc, at);

    /// <summary>acc[0..16] = fma(f32(m_2c·Σx + m_2c+1·Σx), scale, acc[0..16]) for 16 rows, <paramref name="pairs"/> the token's two 32-value sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void MinsAt(float* acc, Vector512<short> mins, int pairs, float* scale) =>
        Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(Avx512BW.MultiplyAddAdjacent(mins, Vector512.Create(pairs).AsInt16())), Vector512.Load(scale), Vector512.Load(acc)).Store(acc);
}
