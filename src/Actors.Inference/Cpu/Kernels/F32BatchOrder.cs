using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Actors.Inference.Model;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// F32 weights in llama.cpp's batch order for the tokens <see cref="PreparedActivations.SetTokenOrder"/> names
/// (AVX-512 path): tinyBLAS (llamafile_sgemm), which its AVX-512 build runs for a batch of two or more tokens
/// when the row length is a multiple of 16 — per (row, token) one 16-lane FMA chain over the row from zero,
/// acc = fma(w[16l..], x[16l..], acc), then _mm512_reduce_add_ps's tree. The other tokens keep the row kernel's
/// one-token order (ggml_vec_dot_f32's four chains). Each (row, token) depends on that token alone.
/// </summary>
internal static class F32BatchOrder
{
    /// <summary>Whether tinyBLAS takes a batch of rows <paramref name="cols"/> long (else llama.cpp runs vec_dot for every token).</summary>
    public static bool Applies(int cols) => cols % 16 == 0;

    public static void Run(WeightMatrix w, PreparedActivations act, int tokens, Span<float> y, int yStride, int rowStart, int rowEnd)
    {
        int rows = rowEnd - rowStart, cols = w.Cols;
        ref float w0 = ref Unsafe.As<byte, float>(ref MemoryMarshal.GetReference(w.RowSpan(rowStart, rows)));
        ref float y0 = ref Unsafe.Add(ref MemoryMarshal.GetReference(y), rowStart);
        int nBatch = act.BatchTokenCount;
        while (nBatch > 0 && act.BatchTokens[nBatch - 1] >= tokens) nBatch--;
        Span<int> t = stackalloc int[4];
        Span<int> r = stackalloc int[4];
        Span<float> tile = stackalloc float[16];
        // Rows in chunks that stay in L2 while every token tile passes over them.
        int chunk = Math.Max(4, 192 * 1024 / (4 * cols) / 4 * 4);
        for (int c0 = 0; c0 < rows; c0 += chunk)
        {
            int c1 = Math.Min(rows, c0 + chunk);
            for (int i = 0; i < nBatch; i += 4)
            {
                int nt = Math.Min(4, nBatch - i);
                for (int k = 0; k < 4; k++) t[k] = act.BatchTokens[i + Math.Min(k, nt - 1)];
                for (int r0 = c0; r0 < c1; r0 += 4)
                {
                    int nr = Math.Min(4, c1 - r0);
                    for (int k = 0; k < 4; k++) r[k] = r0 + Math.Min(k, nr - 1);
                    Tile(ref w0, cols, r, act, t, tile);
                    for (int a = 0; a < nt; a++)
                        for (int b = 0; b < nr; b++) Unsafe.Add(ref y0, (nint)t[a] * yStride + r0 + b) = tile[4 * a + b];
                }
            }
        }
        // The one-token order, run by run of consecutive tokens.
        for (int i = 0; i < act.SingleTokenCount && act.SingleTokens[i] < tokens;)
        {
            int first = act.SingleTokens[i], j = i + 1;
            while (j < act.SingleTokenCount && act.SingleTokens[j] == first + (j - i) && act.SingleTokens[j] < tokens) j++;
            MatMul.RunRows<FloatKernel<F32Weights>>(KernelPath.Avx512, ref Unsafe.As<float, byte>(ref w0), w.RowBytes, rows, act, first + (j - i), ref y0, yStride, firstToken: first);
            i = j;
        }
    }

    /// <summary>Rows r[0..3] × tokens t[0..3] into tile[4·token + row].</summary>
    private static void Tile(ref float w, int cols, ReadOnlySpan<int> r, PreparedActivations act, ReadOnlySpan<int> t, Span<float> tile)
    {
        ref float a0 = ref Unsafe.Add(ref w, (nint)r[0] * cols);
        ref float a1 = ref Unsafe.Add(ref w, (nint)r[1] * cols);
        ref float a2 = ref Unsafe.Add(ref w, (nint)r[2] * cols);
        ref float a3 = ref Unsafe.Add(ref w, (nint)r[3] * cols);
        ref float f = ref act.Floats.Ref;
        ref float b0 = ref Unsafe.Add(ref f, (nint)t[0] * cols);
        ref float b1 = ref Unsafe.Add(ref f, (nint)t[1] * cols);
        ref float b2 = ref Unsafe.Add(ref f, (nint)t[2] * cols);
        ref float b3 = ref Unsafe.Add(ref f, (nint)t[3] * cols);
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (nuint l = 0; l < (nuint)cols; l += 16)
        {
            var w0 = Vector512.LoadUnsafe(ref a0, l);
            var w1 = Vector512.LoadUnsafe(ref a1, l);
            var w2 = Vector512.LoadUnsafe(ref a2, l);
            var w3 = Vector512.LoadUnsafe(ref a3, l);
            var x = Vector512.LoadUnsafe(ref b0, l);
            c00 = Vector512.FusedMultiplyAdd(w0, x, c00); c01 = Vector512.FusedMultiplyAdd(w1, x, c01);
            c02 = Vector512.FusedMultiplyAdd(w2, x, c02); c03 = Vector512.FusedMultiplyAdd(w3, x, c03);
            x = Vector512.LoadUnsafe(ref b1, l);
            c10 = Vector512.FusedMultiplyAdd(w0, x, c10); c11 = Vector512.FusedMultiplyAdd(w1, x, c11);
            c12 = Vector512.FusedMultiplyAdd(w2, x, c12); c13 = Vector512.FusedMultiplyAdd(w3, x, c13);
            x = Vector512.LoadUnsafe(ref b2, l);
            c20 = Vector512.FusedMultiplyAdd(w0, x, c20); c21 = Vector512.FusedMultiplyAdd(w1, x, c21);
            c22 = Vector512.FusedMultiplyAdd(w2, x, c22); c23 = Vector512.FusedMultiplyAdd(w3, x, c23);
            x = Vector512.LoadUnsafe(ref b3, l);
            c30 = Vector512.FusedMultiplyAdd(w0, x, c30); c31 = Vector512.FusedMultiplyAdd(w1, x, c31);
            c32 = Vector512.FusedMultiplyAdd(w2, x, c32); c33 = Vector512.FusedMultiplyAdd(w3, x, c33);
        }
        tile[0] = VectorMath.HSum(c00); tile[1] = VectorMath.HSum(c01); tile[2] = VectorMath.HSum(c02); tile[3] = VectorMath.HSum(c03);
        tile[4] = VectorMath.HSum(c10); tile[5] = VectorMath.HSum(c11); tile[6] = VectorMath.HSum(c12); tile[7] = VectorMath.HSum(c13);
        tile[8] = VectorMath.HSum(c20); tile[9] = VectorMath.HSum(c21); tile[10] = VectorMath.HSum(c22); tile[11] = VectorMath.HSum(c23);
        tile[12] = VectorMath.HSum(c30); tile[13] = VectorMath.HSum(c31); tile[14] = VectorMath.HSum(c32); tile[15] = VectorMath.HSum(c33);
    }
}
