using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// <see cref="PagedAttention"/>'s float order, register-tiled (AVX-512, head dims a multiple of 16); every
/// float operation is the one the reference form does, only the order of independent work changes:
/// <list type="bullet">
/// <item>row offsets of the window's positions found once, walking the block table by runs of
/// consecutive slots (no division per position);</item>
/// <item>scores four keys at a time, each key's dot with ggml_vec_dot_f32's four accumulators and tree
/// (4 keys × 4 accumulators in registers, the q loads shared), its tail in element order;</item>
/// <item>softmax·V one tinyBLAS lane (positions ≡ L mod 16, ascending) at a time, two lanes interleaved,
/// the lane's accumulators kept in registers for 64 outputs, stored once; then the same final tree.</item>
/// </list>
/// </summary>
internal static class PagedAttentionFast
{
    public static void AttendHead(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scratch, Span<float> output)
    {
        int headDim = q.Length;
        PagedAttention.Validate(headDim, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scratch, output);
        int start = firstPosition & ~15;
        int end = (contextLength + 15) & ~15;
        int n = contextLength - firstPosition;
        var e = scratch[..(end - start)];
        var lanes = scratch.Slice(end - start, 16 * headDim);
        var rows = MemoryMarshal.Cast<float, int>(scratch.Slice(end - start + 16 * headDim, n)); // by p − firstPosition
        FillRows(rows, blockTable, blockSize, kvDim, kvOffset, firstPosition, contextLength);

        float max = Scores(q, kCache, rows, softcap, scale, e.Slice(firstPosition - start, n));
        float inv = PagedAttention.ExpAndInverseSum(e, start, end, firstPosition, contextLength, max, vector: true);
        WeightedValues(vCache, rows, e, inv, start, firstPosition, contextLength, headDim, lanes);
        PagedAttention.ReduceLanes(lanes, headDim, output, vector: true);
    }

    /// <summary>rows[p − first] = the element offset of position p's head within the pools.</summary>
    private static void FillRows(Span<int> rows, ReadOnlySpan<int> blockTable, int blockSize, int kvDim, int kvOffset, int first, int contextLength)
    {
        int b = first / blockSize, o = first - b * blockSize, i = 0;
        while (i < rows.Length)
        {
            int offset = (blockTable[b] * blockSize + o) * kvDim + kvOffset;
            int run = Math.Min(blockSize - o, rows.Length - i);
            for (int k = 0; k < run; k++, offset += kvDim) rows[i + k] = offset;
            i += run;
            b++;
            o = 0;
        }
    }

    /// <summary>s[i] = (soft-capped) DotF32(K[first + i], q)·scale; returns the max.</summary>
    private static float Scores(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<int> rows, float softcap, float scale, Span<float> s)
    {
        ref float kr = ref MemoryMarshal.GetReference(kCache);
        ref float qr = ref MemoryMarshal.GetReference(q);
        int headDim = q.Length, n = rows.Length, i = 0;
        for (; i + 4 <= n; i += 4)
            Dot4(ref qr, ref Unsafe.Add(ref kr, rows[i]), ref Unsafe.Add(ref kr, rows[i + 1]), ref Unsafe.Add(ref kr, rows[i + 2]), ref Unsafe.Add(ref kr, rows[i + 3]),
                headDim, out s[i], out s[i + 1], out s[i + 2], out s[i + 3]);
        for (; i < n; i++) s[i] = GgmlSums.DotF32(kCache.Slice(rows[i], headDim), q);

        float max = float.NegativeInfinity;
        float invCap = softcap > 0 ? 1f / softcap : 0f;
        for (i = 0; i < n; i++)
        {
            float x = s[i];
            if (softcap > 0) x = MathF.Tanh(x * invCap) * softcap;
            x *= scale;
            s[i] = x;
            if (x > max) max = x;
        }
        return max;
    }

    /// <summary>Four keys' ggml_vec_dot_f32 with q, each in its own exact order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Dot4(ref float q, ref float k0, ref float k1, ref float k2, ref float k3, int n,
        out float s0, out float s1, out float s2, out float s3)
    {
        int blocks = n & ~63;
        s0 = s1 = s2 = s3 = 0f;
        if (blocks > 0)
        {
            Vector512<float> a00 = default, a01 = default, a02 = default, a03 = default;
            Vector512<float> a10 = default, a11 = default, a12 = default, a13 = default;
            Vector512<float> a20 = default, a21 = default, a22 = default, a23 = default;
            Vector512<float> a30 = default, a31 = default, a32 = default, a33 = default;
            for (nuint j = 0; j < (nuint)blocks; j += 64)
            {
                var q0 = Vector512.LoadUnsafe(ref q, j);
                var q1 = Vector512.LoadUnsafe(ref q, j + 16);
                var q2 = Vector512.LoadUnsafe(ref q, j + 32);
                var q3 = Vector512.LoadUnsafe(ref q, j + 48);
                a00 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k0, j), q0, a00);
                a10 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k1, j), q0, a10);
                a20 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k2, j), q0, a20);
                a30 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k3, j), q0, a30);
                a01 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k0, j + 16), q1, a01);
                a11 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k1, j + 16), q1, a11);
                a21 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k2, j + 16), q1, a21);
                a31 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k3, j + 16), q1, a31);
                a02 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k0, j + 32), q2, a02);
                a12 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k1, j + 32), q2, a12);
                a22 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k2, j + 32), q2, a22);
                a32 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k3, j + 32), q2, a32);
                a03 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k0, j + 48), q3, a03);
                a13 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k1, j + 48), q3, a13);
                a23 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k2, j + 48), q3, a23);
                a33 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref k3, j + 48), q3, a33);
            }
            s0 = GgmlSums.Reduce16((a00 + a02) + (a01 + a03));
            s1 = GgmlSums.Reduce16((a10 + a12) + (a11 + a13));
            s2 = GgmlSums.Reduce16((a20 + a22) + (a21 + a23));
            s3 = GgmlSums.Reduce16((a30 + a32) + (a31 + a33));
        }
        // DotF32's tail for head dims that are a multiple of 16: rounded products added in element order.
        for (nuint j = (nuint)blocks; j < (nuint)n; j += 16)
        {
            var qv = Vector512.LoadUnsafe(ref q, j);
            var p0 = Vector512.LoadUnsafe(ref k0, j) * qv;
            var p1 = Vector512.LoadUnsafe(ref k1, j) * qv;
            var p2 = Vector512.LoadUnsafe(ref k2, j) * qv;
            var p3 = Vector512.LoadUnsafe(ref k3, j) * qv;
            for (int k = 0; k < 16; k++)
            {
                s0 += p0.GetElement(k);
                s1 += p1.GetElement(k);
                s2 += p2.GetElement(k);
                s3 += p3.GetElement(k);
            }
        }
    }

    /// <summary>
    /// lanes[L·headDim + d] = the tinyBLAS chain of lane L: fma(V[p][d], e[p]·inv, ·) over the window's
    /// positions p ≡ L (mod 16), ascending, from +0.
    /// </summary>
    private static void WeightedValues(ReadOnlySpan<float> vCache, ReadOnlySpan<int> rows, ReadOnlySpan<float> e, float inv,
        int start, int first, int contextLength, int headDim, Span<float> lanes)
    {
        ref float vr = ref MemoryMarshal.GetReference(vCache);
        ref float er = ref MemoryMarshal.GetReference(e);
        ref float lr = ref MemoryMarshal.GetReference(lanes);
        var pinv = Vector512.Create(inv);
        for (int d0 = 0; d0 < headDim; d0 += 64)
        {
            int width = Math.Min(64, headDim - d0); // 16, 32, 48 or 64
            for (int lane = 0; lane < 16; lane += 2)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                for (int g = start; g < contextLength; g += 16)
                {
                    bool full = g >= first && g + 16 <= contextLength;
                    int pa = g + lane, pb = pa + 1;
                    if (full || (pa >= first && pa < contextLength))
                    {
                        var w = Vector512.Create(Unsafe.Add(ref er, pa - start)) * pinv; // e·inv rounded, as prob
                        ref float v = ref Unsafe.Add(ref vr, rows[pa - first] + d0);
                        a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v), w, a0);
                        if (width > 16) a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 16), w, a1);
                        if (width > 32) a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 32), w, a2);
                        if (width > 48) a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 48), w, a3);
                    }
                    if (full || (pb >= first && pb < contextLength))
                    {
                        var w = Vector512.Create(Unsafe.Add(ref er, pb - start)) * pinv;
                        ref float v = ref Unsafe.Add(ref vr, rows[pb - first] + d0);
                        b0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v), w, b0);
                        if (width > 16) b1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 16), w, b1);
                        if (width > 32) b2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 32), w, b2);
                        if (width > 48) b3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 48), w, b3);
                    }
                }
                ref float la = ref Unsafe.Add(ref lr, lane * headDim + d0);
                ref float lb = ref Unsafe.Add(ref lr, (lane + 1) * headDim + d0);
                a0.StoreUnsafe(ref la);
                b0.StoreUnsafe(ref lb);
                if (width > 16) { a1.StoreUnsafe(ref la, 16); b1.StoreUnsafe(ref lb, 16); }
                if (width > 32) { a2.StoreUnsafe(ref la, 32); b2.StoreUnsafe(ref lb, 32); }
                if (width > 48) { a3.StoreUnsafe(ref la, 48); b3.StoreUnsafe(ref lb, 48); }
            }
        }
    }
}
