using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Cache-blocked prefill for float weights on AVX-512. A 6-token tile's activations over all columns
/// (6 × 16 KiB at 4096 f32 columns) overflow L1, so the row-at-a-time tile streams them from L2 for
/// every row and stalls on that. Here columns are taken in blocks of <see cref="ColBlock"/> so a tile's
/// activation block stays in L1 across a chunk of rows; each row's 24 accumulators (and its max |w|)
/// are parked in a small stack buffer between blocks. Storing and reloading a float vector is exact
/// and the blocks follow each other in column order, so every (row, token) pair performs exactly the
/// FMAs of <see cref="Dot512"/> in the same order: results are bit-identical to the unblocked kernels.
/// </summary>
internal readonly partial struct FloatKernel<TW>
{
    /// <summary>Columns per block: 6 tokens × 1024 f32 = 24 KiB of activations, half of a 48 KiB L1.</summary>
    private const int ColBlock = 1024;

    /// <summary>
    /// Rows per chunk: their weights are re-read (from L2) for every token tile, and their parked state
    /// (16 × 1.6 KiB) lives on the stack. Tuned on Zen 5 between 4 and 32 (16 best; 2048-column blocks
    /// and 512-column blocks were both slower).
    /// </summary>
    private const int RowsPerChunk = 16;

    /// <summary>Vectors of parked state per row: 6 tokens × 4 accumulators, and max |w|.</summary>
    private const int StatePerRow = 25;

    /// <summary>Whether <see cref="Prefill"/> takes whole tiles on rows of <paramref name="cols"/> (then left-over tokens walk the rows again).</summary>
    internal static bool BlocksPrefill(KernelPath path, int cols) => path == KernelPath.Avx512 && ((nuint)cols & ~(nuint)63) > ColBlock;

    public static int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride)
    {
        nuint n = (nuint)a.Cols, n64 = n & ~(nuint)63;
        // Only worth it when a tile's activations would not fit in L1 anyway.
        if (tokens < 6 || !BlocksPrefill(path, a.Cols)) return 0;
        int done = tokens / 6 * 6;
        Span<Vector512<float>> state = stackalloc Vector512<float>[RowsPerChunk * StatePerRow];
        ref Vector512<float> st0 = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(state);
        for (int r0 = 0; r0 < rows; r0 += RowsPerChunk)
        {
            int r1 = Math.Min(rows, r0 + RowsPerChunk);
            for (int t0 = 0; t0 < done; t0 += 6)
            {
                ref float xt = ref Unsafe.Add(ref a.Floats.Ref, (nint)t0 * a.Cols);
                ref float yt = ref Unsafe.Add(ref y, (nint)t0 * yStride);
                for (nuint c0 = 0; c0 < n64; c0 += ColBlock)
                {
                    nuint c1 = Math.Min(n64, c0 + ColBlock);
                    for (int r = r0; r < r1; r++)
                        Block(ref Unsafe.Add(ref rows0, (nint)r * rowBytes), ref xt, n, c0, c1,
                            ref Unsafe.Add(ref st0, (r - r0) * StatePerRow), ref Unsafe.Add(ref yt, r), yStride);
                }
            }
        }
        return done;
    }

    /// <summary>Columns [c0, c1) of one row for 6 tokens; the first block starts from zero, the last one finishes as Tile512.</summary>
    private static void Block(ref byte row, ref float x0, nuint n, nuint c0, nuint c1, ref Vector512<float> st, ref float y, nint ys)
    {
        ref float x1 = ref Unsafe.Add(ref x0, n);
        ref float x2 = ref Unsafe.Add(ref x1, n);
        ref float x3 = ref Unsafe.Add(ref x2, n);
        ref float x4 = ref Unsafe.Add(ref x3, n);
        ref float x5 = ref Unsafe.Add(ref x4, n);
        Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default, a10 = default, a11 = default, a12 = default, a13 = default, a20 = default, a21 = default, a22 = default, a23 = default, a30 = default, a31 = default, a32 = default, a33 = default, a40 = default, a41 = default, a42 = default, a43 = default, a50 = default, a51 = default, a52 = default, a53 = default, big = default;
        if (c0 != 0)
        {
            a00 = Unsafe.Add(ref st, 0); a01 = Unsafe.Add(ref st, 1); a02 = Unsafe.Add(ref st, 2); a03 = Unsafe.Add(ref st, 3);
            a10 = Unsafe.Add(ref st, 4); a11 = Unsafe.Add(ref st, 5); a12 = Unsafe.Add(ref st, 6); a13 = Unsafe.Add(ref st, 7);
            a20 = Unsafe.Add(ref st, 8); a21 = Unsafe.Add(ref st, 9); a22 = Unsafe.Add(ref st, 10); a23 = Unsafe.Add(ref st, 11);
            a30 = Unsafe.Add(ref st, 12); a31 = Unsafe.Add(ref st, 13); a32 = Unsafe.Add(ref st, 14); a33 = Unsafe.Add(ref st, 15);
            a40 = Unsafe.Add(ref st, 16); a41 = Unsafe.Add(ref st, 17); a42 = Unsafe.Add(ref st, 18); a43 = Unsafe.Add(ref st, 19);
            a50 = Unsafe.Add(ref st, 20); a51 = Unsafe.Add(ref st, 21); a52 = Unsafe.Add(ref st, 22); a53 = Unsafe.Add(ref st, 23);
            big = Unsafe.Add(ref st, 24);
        }
        nuint i = c0;
        for (; i < c1; i += 64)
        {
            var w0 = TW.Load512(ref row, i);
            var w1 = TW.Load512(ref row, i + 16);
            var w2 = TW.Load512(ref row, i + 32);
            var w3 = TW.Load512(ref row, i + 48);
            if (TW.FastLoad512) big = MaxAbs(big, MaxAbs(MaxAbs(w0, w1), MaxAbs(w2, w3)));
            a00 = F(w0, ref x0, i, a00); a01 = F(w1, ref x0, i + 16, a01); a02 = F(w2, ref x0, i + 32, a02); a03 = F(w3, ref x0, i + 48, a03);
            a10 = F(w0, ref x1, i, a10); a11 = F(w1, ref x1, i + 16, a11); a12 = F(w2, ref x1, i + 32, a12); a13 = F(w3, ref x1, i + 48, a13);
            a20 = F(w0, ref x2, i, a20); a21 = F(w1, ref x2, i + 16, a21); a22 = F(w2, ref x2, i + 32, a22); a23 = F(w3, ref x2, i + 48, a23);
            a30 = F(w0, ref x3, i, a30); a31 = F(w1, ref x3, i + 16, a31); a32 = F(w2, ref x3, i + 32, a32); a33 = F(w3, ref x3, i + 48, a33);
            a40 = F(w0, ref x4, i, a40); a41 = F(w1, ref x4, i + 16, a41); a42 = F(w2, ref x4, i + 32, a42); a43 = F(w3, ref x4, i + 48, a43);
            a50 = F(w0, ref x5, i, a50); a51 = F(w1, ref x5, i + 16, a51); a52 = F(w2, ref x5, i + 32, a52); a53 = F(w3, ref x5, i + 48, a53);
        }
        if (c1 != (n & ~(nuint)63))
        {
            Unsafe.Add(ref st, 0) = a00; Unsafe.Add(ref st, 1) = a01; Unsafe.Add(ref st, 2) = a02; Unsafe.Add(ref st, 3) = a03;
            Unsafe.Add(ref st, 4) = a10; Unsafe.Add(ref st, 5) = a11; Unsafe.Add(ref st, 6) = a12; Unsafe.Add(ref st, 7) = a13;
            Unsafe.Add(ref st, 8) = a20; Unsafe.Add(ref st, 9) = a21; Unsafe.Add(ref st, 10) = a22; Unsafe.Add(ref st, 11) = a23;
            Unsafe.Add(ref st, 12) = a30; Unsafe.Add(ref st, 13) = a31; Unsafe.Add(ref st, 14) = a32; Unsafe.Add(ref st, 15) = a33;
            Unsafe.Add(ref st, 16) = a40; Unsafe.Add(ref st, 17) = a41; Unsafe.Add(ref st, 18) = a42; Unsafe.Add(ref st, 19) = a43;
            Unsafe.Add(ref st, 20) = a50; Unsafe.Add(ref st, 21) = a51; Unsafe.Add(ref st, 22) = a52; Unsafe.Add(ref st, 23) = a53;
            Unsafe.Add(ref st, 24) = big;
            return;
        }
        for (; i + 16 <= n; i += 16)
        {
            var w = TW.Load512(ref row, i);
            if (TW.FastLoad512) big = MaxAbs(big, w);
            a00 = F(w, ref x0, i, a00); a10 = F(w, ref x1, i, a10); a20 = F(w, ref x2, i, a20); a30 = F(w, ref x3, i, a30); a40 = F(w, ref x4, i, a40); a50 = F(w, ref x5, i, a50);
        }
        if (SawNonFinite(big))
        {
            FloatKernel<F16ExactWeights>.Tile512(ref row, ref x0, n, ref y, ys);
            return;
        }
        y = Tail(VectorMath.HSum((a00 + a01) + (a02 + a03)), ref row, ref x0, i, n);
        Unsafe.Add(ref y, 1 * ys) = Tail(VectorMath.HSum((a10 + a11) + (a12 + a13)), ref row, ref x1, i, n);
        Unsafe.Add(ref y, 2 * ys) = Tail(VectorMath.HSum((a20 + a21) + (a22 + a23)), ref row, ref x2, i, n);
        Unsafe.Add(ref y, 3 * ys) = Tail(VectorMath.HSum((a30 + a31) + (a32 + a33)), ref row, ref x3, i, n);
        Unsafe.Add(ref y, 4 * ys) = Tail(VectorMath.HSum((a40 + a41) + (a42 + a43)), ref row, ref x4, i, n);
        Unsafe.Add(ref y, 5 * ys) = Tail(VectorMath.HSum((a50 + a51) + (a52 + a53)), ref row, ref x5, i, n);
    }
}
