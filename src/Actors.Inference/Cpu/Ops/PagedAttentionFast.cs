using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>
    /// <paramref name="heads"/> query heads of one KV head (q and output [heads × headDim], head after head),
    /// each with the bits <see cref="AttendHead"/> gives it alone: the row offsets found once, and softmax·V
    /// for two heads at a time, each V row loaded once for both (each head's lane chains are its own).
    /// </summary>
    public static void AttendHeads(int heads, ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scratch, Span<float> output)
    {
        int headDim = q.Length / heads;
        int one = PagedAttention.ScratchLength(contextLength, headDim);
        if (heads < 1 || headDim * heads != q.Length || headDim % 16 != 0) throw new ArgumentException($"q of {q.Length} values is not {heads} heads of a multiple of 16", nameof(q));
        if (scratch.Length < heads * one) throw new ArgumentException($"scratch holds {scratch.Length} floats, need {heads * one}", nameof(scratch));
        if (output.Length < q.Length) throw new ArgumentException($"output holds {output.Length} values, need {q.Length}", nameof(output));
        PagedAttention.Validate(headDim, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scratch, output);
        int start = firstPosition & ~15, end = (contextLength + 15) & ~15, n = contextLength - firstPosition;
        int cells = end - start;
        var rows = MemoryMarshal.Cast<float, int>(scratch.Slice(cells + 16 * headDim, n)); // in head 0's region
        FillRows(rows, blockTable, blockSize, kvDim, kvOffset, firstPosition, contextLength);
        Span<float> inv = stackalloc float[heads];
        for (int h = 0; h < heads; h++)
        {
            var e = scratch.Slice(h * one, cells);
            float max = Scores(q.Slice(h * headDim, headDim), kCache, rows, softcap, scale, e.Slice(firstPosition - start, n));
            inv[h] = PagedAttention.ExpAndInverseSum(e, start, end, firstPosition, contextLength, max, vector: true);
        }
        int hh = 0;
        for (; hh + 2 <= heads; hh += 2)
            WeightedValuesPair(vCache, rows, scratch.Slice(hh * one, cells), scratch.Slice((hh + 1) * one, cells), inv[hh], inv[hh + 1],
                start, firstPosition, contextLength, headDim, scratch.Slice(hh * one + cells, 16 * headDim), scratch.Slice((hh + 1) * one + cells, 16 * headDim));
        if (hh < heads)
            WeightedValues(vCache, rows, scratch.Slice(hh * one, cells), inv[hh], start, firstPosition, contextLength, headDim, scratch.Slice(hh * one + cells, 16 * headDim));
        for (int h = 0; h < heads; h++)
            PagedAttention.ReduceLanes(scratch.Slice(h * one + cells, 16 * headDim), headDim, output.Slice(h * headDim, headDim), vector: true);
    }

    /// <summary><see cref="WeightedValues"/> for two heads over the same positions, each V row loaded once.</summary>
    private static void WeightedValuesPair(ReadOnlySpan<float> vCache, ReadOnlySpan<int> rows, ReadOnlySpan<float> eA, ReadOnlySpan<float> eB,
        float invA, float invB, int start, int first, int contextLength, int headDim, Span<float> lanesA, Span<float> lanesB)
    {
        ref float vr = ref MemoryMarshal.GetReference(vCache);
        ref float ea = ref MemoryMarshal.GetReference(eA);
        ref float eb = ref MemoryMarshal.GetReference(eB);
        ref int rr = ref MemoryMarshal.GetReference(rows);
        for (int d0 = 0; d0 < headDim; d0 += 16)
        {
            int width = Math.Min(4, (headDim - d0) / 16); // vectors in this pass: 4, or the head's last 1..3
            for (int lane = 0; lane < 16; lane++)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
                for (int p = start + lane; p < contextLength; p += 16)
                {
                    if (p < first) continue;
                    var wa = Vector512.Create(Unsafe.Add(ref ea, p - start) * invA);
                    var wb = Vector512.Create(Unsafe.Add(ref eb, p - start) * invB);
                    ref float v = ref Unsafe.Add(ref vr, Unsafe.Add(ref rr, p - first) + d0);
                    var v0 = Vector512.LoadUnsafe(ref v);
                    a0 = Vector512.FusedMultiplyAdd(v0, wa, a0);
                    b0 = Vector512.FusedMultiplyAdd(v0, wb, b0);
                    if (width == 4)
                    {
                        var v1 = Vector512.LoadUnsafe(ref v, 16);
                        var v2 = Vector512.LoadUnsafe(ref v, 32);
                        var v3 = Vector512.LoadUnsafe(ref v, 48);
                        a1 = Vector512.FusedMultiplyAdd(v1, wa, a1);
                        b1 = Vector512.FusedMultiplyAdd(v1, wb, b1);
                        a2 = Vector512.FusedMultiplyAdd(v2, wa, a2);
                        b2 = Vector512.FusedMultiplyAdd(v2, wb, b2);
                        a3 = Vector512.FusedMultiplyAdd(v3, wa, a3);
                        b3 = Vector512.FusedMultiplyAdd(v3, wb, b3);
                    }
                }
                a0.StoreUnsafe(ref lanesA[lane * headDim + d0]);
                b0.StoreUnsafe(ref lanesB[lane * headDim + d0]);
                if (width == 4)
                {
                    ref float la = ref lanesA[lane * headDim + d0];
                    ref float lb = ref lanesB[lane * headDim + d0];
                    a1.StoreUnsafe(ref la, 16); b1.StoreUnsafe(ref lb, 16);
                    a2.StoreUnsafe(ref la, 32); b2.StoreUnsafe(ref lb, 32);
                    a3.StoreUnsafe(ref la, 48); b3.StoreUnsafe(ref lb, 48);
                }
            }
            if (width == 4) d0 += 48;
        }
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
        i = 0;
        if (softcap <= 0 && n >= 16)
        {
            // The same products; vmaxps(s, m) is `s > m ? s : m`, the reference's update, per lane. The lanes'
            // maxima may differ from the reference's only in the sign of a zero, which exp(w − max) cannot see.
            ref float sr = ref MemoryMarshal.GetReference(s);
            var vs = Vector512.Create(scale);
            var m = Vector512.Create(float.NegativeInfinity);
            for (; i + 16 <= n; i += 16)
            {
                var x = Vector512.LoadUnsafe(ref sr, (nuint)i) * vs;
                x.StoreUnsafe(ref sr, (nuint)i);
                m = Avx512F.Max(x, m);
            }
            for (int k = 0; k < 16; k++)
                if (m.GetElement(k) > max) max = m.GetElement(k);
        }
        for (; i < n; i++)
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
            Sum4((a00 + a02) + (a01 + a03), (a10 + a12) + (a11 + a13), (a20 + a22) + (a21 + a23), (a30 + a32) + (a31 + a33),
                out s0, out s1, out s2, out s3);
        }
        // DotF32's tail for head dims that are a multiple of 16: rounded products added in element order.
        // (scalar loads: a vector's elements picked by a variable index would go through memory)
        for (int j = blocks; j < n; j++)
        {
            float qj = Unsafe.Add(ref q, j);
            s0 += Unsafe.Add(ref k0, j) * qj;
            s1 += Unsafe.Add(ref k1, j) * qj;
            s2 += Unsafe.Add(ref k2, j) * qj;
            s3 += Unsafe.Add(ref k3, j) * qj;
        }
    }

    /// <summary>
    /// <see cref="GgmlSums.Reduce16"/> of four vectors at once: each step adds the same two values for
    /// every key as the one-vector tree (l[i] + l[i+8], + [i+4], then ([0]+[2]) + ([1]+[3])), with the
    /// keys' halves and quarters shuffled side by side so one add serves two or four keys.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Sum4(Vector512<float> v0, Vector512<float> v1, Vector512<float> v2, Vector512<float> v3,
        out float s0, out float s1, out float s2, out float s3)
    {
        // [v0 lanes 0,1 | v1 lanes 0,1] + [v0 lanes 2,3 | v1 lanes 2,3]: each key's l[i] + l[i+8].
        var x01 = Avx512F.Shuffle4x128(v0, v1, 0x44) + Avx512F.Shuffle4x128(v0, v1, 0xEE);
        var x23 = Avx512F.Shuffle4x128(v2, v3, 0x44) + Avx512F.Shuffle4x128(v2, v3, 0xEE);
        // [k0 | k1 | k2 | k3] 128-bit lanes, each that key's (l[i] + l[i+8]) + (l[i+4] + l[i+12]).
        var y = Avx512F.Shuffle4x128(x01, x23, 0x88) + Avx512F.Shuffle4x128(x01, x23, 0xDD);
        var t = y + Avx512F.Permute4x32(y, 0x4E);   // [b0+b2, b1+b3, ·, ·] per lane
        var u = t + Avx512F.Permute4x32(t, 0xB1);   // [(b0+b2)+(b1+b3), ·, ·, ·]
        s0 = u.GetElement(0);
        s1 = u.GetElement(4);
        s2 = u.GetElement(8);
        s3 = u.GetElement(12);
    }

    /// <summary>
    /// lanes[L·headDim + d] = the tinyBLAS chain of lane L: fma(V[p][d], e[p]·inv, ·) over the window's
    /// positions p ≡ L (mod 16), ascending, from +0. Lanes are independent chains, so four run at once, each
    /// over 64 (or, for the rest of the head, 16) outputs held in registers.
    /// </summary>
    private static void WeightedValues(ReadOnlySpan<float> vCache, ReadOnlySpan<int> rows, ReadOnlySpan<float> e, float inv,
        int start, int first, int contextLength, int headDim, Span<float> lanes)
    {
        ref float vr = ref MemoryMarshal.GetReference(vCache);
        ref float er = ref MemoryMarshal.GetReference(e);
        ref int rr = ref MemoryMarshal.GetReference(rows);
        ref float lr = ref MemoryMarshal.GetReference(lanes);
        // Whole 16-cell groups inside the window: gFull..gEnd−1; the (at most two) groups around them are partial.
        int gFull = (first + 15) & ~15, gEnd = contextLength & ~15;
        if (gFull > gEnd) gFull = gEnd = start; // the window lies inside one group: every group partial
        int d0 = 0;
        for (; d0 + 64 <= headDim; d0 += 64)
            for (int lane = 0; lane < 16; lane++)
            {
                Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int g = start; g < gFull; g += 16) Partial64(ref vr, ref er, ref rr, inv, start, first, contextLength, d0, g + lane, ref a0, ref a1, ref a2, ref a3);
                for (int p = gFull + lane; p < gEnd; p += 16)
                {
                    var w = Vector512.Create(Unsafe.Add(ref er, p - start) * inv); // the reference's prob, rounded once
                    ref float v = ref Unsafe.Add(ref vr, Unsafe.Add(ref rr, p - first) + d0);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v), w, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 16), w, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 32), w, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 48), w, a3);
                }
                for (int g = gEnd; g < contextLength; g += 16) Partial64(ref vr, ref er, ref rr, inv, start, first, contextLength, d0, g + lane, ref a0, ref a1, ref a2, ref a3);
                ref float l = ref Unsafe.Add(ref lr, lane * headDim + d0);
                a0.StoreUnsafe(ref l);
                a1.StoreUnsafe(ref l, 16);
                a2.StoreUnsafe(ref l, 32);
                a3.StoreUnsafe(ref l, 48);
            }
        for (; d0 < headDim; d0 += 16)
            for (int lane = 0; lane < 16; lane++)
            {
                Vector512<float> a = default;
                for (int p = start + lane; p < contextLength; p += 16)
                    if (p >= first)
                        a = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref vr, (nuint)(Unsafe.Add(ref rr, p - first) + d0)),
                            Vector512.Create(Unsafe.Add(ref er, p - start) * inv), a);
                a.StoreUnsafe(ref lr, (nuint)(lane * headDim + d0));
            }
    }

    /// <summary>One position of a partial group, if it is inside the window.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Partial64(ref float vr, ref float er, ref int rr, float inv, int start, int first, int contextLength, int d0, int p,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
    {
        if (p < first || p >= contextLength) return;
        var w = Vector512.Create(Unsafe.Add(ref er, p - start) * inv);
        ref float v = ref Unsafe.Add(ref vr, Unsafe.Add(ref rr, p - first) + d0);
        a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v), w, a0);
        a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 16), w, a1);
        a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 32), w, a2);
        a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 48), w, a3);
    }
}
