using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Inference.Cpu.Ops;

/// <summary>
/// Causal attention of one query head over a sequence's cached K/V, read through its block table.
/// Each (token, head) is computed on its own in a fixed order, so the result does not depend on the
/// batch around it (batch invariance) nor on which thread runs it.
/// </summary>
/// <remarks>
/// Scratch is one row of scores per (token, head), O(context). With 512-bit vectors and a head
/// dimension that is a multiple of 16 (≤ 256), the dot products and the weighted sum of V keep their
/// accumulators in registers and walk the block table block by block: a prefill's attention was
/// dominated by per-key library calls that reloaded and stored the output row for every key.
/// </remarks>
public static class PagedAttention
{
    /// <param name="q">Query of one head [headDim], already rotated.</param>
    /// <param name="kCache">One layer's K pool [slots × kvDim].</param>
    /// <param name="vCache">One layer's V pool [slots × kvDim].</param>
    /// <param name="kvOffset">Offset of this head's KV head within a slot (kvHead × headDim).</param>
    /// <param name="firstPosition">First position attended to (a sliding window's start; 0 for full attention).</param>
    /// <param name="contextLength">Attend to positions firstPosition..contextLength−1.</param>
    /// <param name="softcap">Scores become tanh(s/softcap)·softcap before the softmax (gemma2); 0 = none.</param>
    /// <param name="scores">Scratch of at least contextLength floats.</param>
    /// <param name="output">[headDim] result.</param>
    public static void AttendHead(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scores, Span<float> output)
    {
        int headDim = q.Length, n = contextLength - firstPosition;
        Validate(headDim, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scores, output);
        if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated && headDim % 16 == 0 && headDim <= 256)
            AttendVectorized(q, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scores[..n], output);
        else
            AttendScalar(q, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scores[..n], output);
    }

    /// <summary>
    /// <see cref="AttendHead"/> for two query heads that share a KV head: with 64-wide heads and 512-bit
    /// vectors each K and V row comes from L2 once for both (the second read hits L1). Each query goes
    /// through exactly the operations of <see cref="AttendHead"/>, so the results are the same bits.
    /// </summary>
    public static void AttendHeadPair(ReadOnlySpan<float> qa, ReadOnlySpan<float> qb, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> scoresA, Span<float> scoresB, Span<float> outputA, Span<float> outputB)
    {
        if (!(Avx512F.IsSupported && Vector512.IsHardwareAccelerated && qa.Length == 64 && qb.Length == 64 && softcap == 0))
        {
            AttendHead(qa, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scoresA, outputA);
            AttendHead(qb, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scale, softcap, scoresB, outputB);
            return;
        }
        int n = contextLength - firstPosition;
        Validate(64, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scoresA, outputA);
        Validate(64, kCache, vCache, kvDim, kvOffset, blockTable, blockSize, firstPosition, contextLength, scoresB, outputB);
        ref float k0 = ref MemoryMarshal.GetReference(kCache);
        ref float v0 = ref MemoryMarshal.GetReference(vCache);
        ref float sa = ref MemoryMarshal.GetReference(scoresA);
        ref float sb = ref MemoryMarshal.GetReference(scoresB);
        float maxA = float.NegativeInfinity, maxB = float.NegativeInfinity;
        var qa0 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qa));
        var qa1 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qa), 16);
        var qa2 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qa), 32);
        var qa3 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qa), 48);
        var qb0 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qb));
        var qb1 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qb), 16);
        var qb2 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qb), 32);
        var qb3 = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(qb), 48);
        Span<nint> rows = stackalloc nint[4];
        int j = 0;
        for (int p = firstPosition; p < contextLength;)
        {
            int inBlock = p % blockSize, run = Math.Min(blockSize - inBlock, contextLength - p);
            nint row = ((nint)blockTable[p / blockSize] * blockSize + inBlock) * kvDim + kvOffset;
            int i = 0;
            var vmaxA = Vector128.Create(maxA);
            var vmaxB = Vector128.Create(maxB);
            for (; i + 4 <= run; i += 4, j += 4, row += 4 * (nint)kvDim)
            {
                ref float kr = ref Unsafe.Add(ref k0, row);
                ref float kr1 = ref Unsafe.Add(ref kr, kvDim);
                ref float kr2 = ref Unsafe.Add(ref kr, 2 * kvDim);
                ref float kr3 = ref Unsafe.Add(ref kr, 3 * kvDim);
                var s4 = Sum4(Dot64(qa0, qa1, qa2, qa3, ref kr), Dot64(qa0, qa1, qa2, qa3, ref kr1), Dot64(qa0, qa1, qa2, qa3, ref kr2), Dot64(qa0, qa1, qa2, qa3, ref kr3)) * scale;
                var t4 = Sum4(Dot64(qb0, qb1, qb2, qb3, ref kr), Dot64(qb0, qb1, qb2, qb3, ref kr1), Dot64(qb0, qb1, qb2, qb3, ref kr2), Dot64(qb0, qb1, qb2, qb3, ref kr3)) * scale;
                s4.StoreUnsafe(ref Unsafe.Add(ref sa, j));
                t4.StoreUnsafe(ref Unsafe.Add(ref sb, j));
                vmaxA = Vector128.MaxNative(vmaxA, s4);
                vmaxB = Vector128.MaxNative(vmaxB, t4);
            }
            maxA = MathF.Max(MathF.Max(vmaxA[0], vmaxA[1]), MathF.Max(vmaxA[2], vmaxA[3]));
            maxB = MathF.Max(MathF.Max(vmaxB[0], vmaxB[1]), MathF.Max(vmaxB[2], vmaxB[3]));
            while (i < run)
            {
                int count = Math.Min(4, run - i);
                for (int r = 0; r < count; r++, row += kvDim) rows[r] = row;
                Scores4(ref MemoryMarshal.GetReference(qa), ref k0, rows, count, 4, scale, 0, ref Unsafe.Add(ref sa, j), ref maxA);
                Scores4(ref MemoryMarshal.GetReference(qb), ref k0, rows, count, 4, scale, 0, ref Unsafe.Add(ref sb, j), ref maxB);
                i += count;
                j += count;
            }
            p += run;
        }

        TensorPrimitives.Multiply(scoresA[..n], Softmax(scoresA[..n], maxA), scoresA[..n]);
        TensorPrimitives.Multiply(scoresB[..n], Softmax(scoresB[..n], maxB), scoresB[..n]);

        var evenA = new Acc4();
        var oddA = new Acc4();
        var evenB = new Acc4();
        var oddB = new Acc4();
        j = 0;
        for (int p = firstPosition; p < contextLength;)
        {
            int inBlock = p % blockSize, run = Math.Min(blockSize - inBlock, contextLength - p);
            ref float vr = ref Unsafe.Add(ref v0, ((nint)blockTable[p / blockSize] * blockSize + inBlock) * kvDim + kvOffset);
            int end = j + run;
            if ((j & 1) != 0)
            {
                oddA.Add(ref vr, Unsafe.Add(ref sa, j), 4);
                oddB.Add(ref vr, Unsafe.Add(ref sb, j), 4);
                j++;
                vr = ref Unsafe.Add(ref vr, kvDim);
            }
            for (; j + 2 <= end; j += 2, vr = ref Unsafe.Add(ref vr, 2 * kvDim))
            {
                evenA.Add(ref vr, Unsafe.Add(ref sa, j), 4);
                evenB.Add(ref vr, Unsafe.Add(ref sb, j), 4);
                oddA.Add(ref Unsafe.Add(ref vr, kvDim), Unsafe.Add(ref sa, j + 1), 4);
                oddB.Add(ref Unsafe.Add(ref vr, kvDim), Unsafe.Add(ref sb, j + 1), 4);
            }
            if (j < end)
            {
                evenA.Add(ref vr, Unsafe.Add(ref sa, j), 4);
                evenB.Add(ref vr, Unsafe.Add(ref sb, j), 4);
                j++;
            }
            p += run;
        }
        evenA.StoreSum(oddA, ref MemoryMarshal.GetReference(outputA));
        evenB.StoreSum(oddB, ref MemoryMarshal.GetReference(outputB));
    }

    private static void Validate(int headDim, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, Span<float> scores, Span<float> output)
    {
        int n = contextLength - firstPosition;
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(contextLength), $"no position to attend to in [{firstPosition}, {contextLength})");
        if (scores.Length < n) throw new ArgumentException($"scores holds {scores.Length} values, need {n}", nameof(scores));
        if (output.Length < headDim) throw new ArgumentException($"output holds {output.Length} values, need {headDim}", nameof(output));
        if (kvOffset < 0 || kvOffset + headDim > kvDim) throw new ArgumentOutOfRangeException(nameof(kvOffset), $"head at {kvOffset}..{kvOffset + headDim} outside a slot of {kvDim}");
        long lastBlock = (contextLength - 1) / blockSize;
        if (lastBlock >= blockTable.Length) throw new ArgumentException($"block table of {blockTable.Length} blocks does not reach position {contextLength - 1}", nameof(blockTable));
        foreach (int b in blockTable[(firstPosition / blockSize)..(int)(lastBlock + 1)])
            if (b < 0 || ((long)b + 1) * blockSize * kvDim > Math.Min(kCache.Length, vCache.Length))
                throw new ArgumentException($"block {b} lies outside the K/V pools", nameof(blockTable));
    }

    /// <summary>Softmax of the scores in place (max subtracted, ggml's exp, sum in double in position order); returns 1/sum.</summary>
    private static float Softmax(Span<float> sc, float max)
    {
        TensorPrimitives.Subtract(sc, max, sc);
        TensorPrimitives.Exp(sc, sc);
        // Lane-parallel double sums in a fixed order (eight lanes, then the lanes in order, then the tail):
        // the result depends only on the scores, not on the buffer's address or the thread.
        int n = sc.Length, j = 0;
        double sum;
        if (Vector512.IsHardwareAccelerated && n >= 16)
        {
            Vector512<double> a0 = default, a1 = default;
            ref float s0 = ref MemoryMarshal.GetReference(sc);
            for (; j + 16 <= n; j += 16)
            {
                var (lo, hi) = Vector512.Widen(Vector512.LoadUnsafe(ref s0, (nuint)j));
                a0 += lo;
                a1 += hi;
            }
            var a = a0 + a1;
            sum = 0;
            for (int l = 0; l < 8; l++) sum += a[l];
        }
        else sum = 0;
        for (; j < n; j++) sum += sc[j];
        return (float)(1.0 / sum);
    }

    private static void AttendVectorized(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> sc, Span<float> output)
    {
        int nv = q.Length / 16;
        ref float q0 = ref MemoryMarshal.GetReference(q);
        ref float k0 = ref MemoryMarshal.GetReference(kCache);
        ref float v0 = ref MemoryMarshal.GetReference(vCache);
        ref float s0 = ref MemoryMarshal.GetReference(sc);
        float max = float.NegativeInfinity;

        // Scores, four positions at a time (their four horizontal sums share the shuffles), one run of
        // consecutive slots (a block of the table) after another; a short group is padded with zero
        // products, so every score goes through the same operations wherever it falls.
        Span<nint> rows = stackalloc nint[4];
        int j = 0;
        for (int p = firstPosition; p < contextLength;)
        {
            int inBlock = p % blockSize, run = Math.Min(blockSize - inBlock, contextLength - p);
            nint row = ((nint)blockTable[p / blockSize] * blockSize + inBlock) * kvDim + kvOffset;
            int i = 0;
            if (nv == 4)
            {
                // Head dimension 64 (the common case): the query stays in four registers.
                var qa = Vector512.LoadUnsafe(ref q0);
                var qb = Vector512.LoadUnsafe(ref q0, 16);
                var qc = Vector512.LoadUnsafe(ref q0, 32);
                var qd = Vector512.LoadUnsafe(ref q0, 48);
                var vmax = Vector128.Create(max);
                for (; i + 4 <= run; i += 4, j += 4, row += 4 * (nint)kvDim)
                {
                    ref float kr = ref Unsafe.Add(ref k0, row);
                    var s4 = Sum4(Dot64(qa, qb, qc, qd, ref kr), Dot64(qa, qb, qc, qd, ref Unsafe.Add(ref kr, kvDim)),
                        Dot64(qa, qb, qc, qd, ref Unsafe.Add(ref kr, 2 * kvDim)), Dot64(qa, qb, qc, qd, ref Unsafe.Add(ref kr, 3 * kvDim))) * scale;
                    if (softcap > 0) s4 = Softcap(s4, softcap);
                    s4.StoreUnsafe(ref Unsafe.Add(ref s0, j));
                    vmax = Vector128.MaxNative(vmax, s4);
                }
                max = MathF.Max(MathF.Max(vmax[0], vmax[1]), MathF.Max(vmax[2], vmax[3]));
            }
            // The rest of the run (every run, for other head dimensions) in groups of up to four: the same
            // operations per score, so how positions fall into groups does not change any result.
            while (i < run)
            {
                int count = Math.Min(4, run - i);
                for (int r = 0; r < count; r++, row += kvDim) rows[r] = row;
                Scores4(ref q0, ref k0, rows, count, nv, scale, softcap, ref Unsafe.Add(ref s0, j), ref max);
                i += count;
                j += count;
            }
            p += run;
        }

        float inv = Softmax(sc, max);
        TensorPrimitives.Multiply(sc, inv, sc);

        // Weighted sum of V, 64 dimensions at a time. Even positions (counted from the first attended) go
        // to one set of four register accumulators and odd ones to another, so consecutive FMAs do not wait
        // on each other; every lane sums its positions in order within each set, then adds the two sets.
        ref float o0 = ref MemoryMarshal.GetReference(output);
        for (int c = 0; c < nv; c += 4)
        {
            int w = Math.Min(4, nv - c);
            var even = new Acc4();
            var odd = new Acc4();
            j = 0;
            for (int p = firstPosition; p < contextLength;)
            {
                int inBlock = p % blockSize, run = Math.Min(blockSize - inBlock, contextLength - p);
                ref float vr = ref Unsafe.Add(ref v0, ((nint)blockTable[p / blockSize] * blockSize + inBlock) * kvDim + kvOffset + 16 * c);
                int end = j + run;
                if ((j & 1) != 0)
                {
                    odd.Add(ref vr, Unsafe.Add(ref s0, j), w);
                    j++;
                    vr = ref Unsafe.Add(ref vr, kvDim);
                }
                for (; j + 2 <= end; j += 2, vr = ref Unsafe.Add(ref vr, 2 * kvDim))
                {
                    even.Add(ref vr, Unsafe.Add(ref s0, j), w);
                    odd.Add(ref Unsafe.Add(ref vr, kvDim), Unsafe.Add(ref s0, j + 1), w);
                }
                if (j < end)
                {
                    even.Add(ref vr, Unsafe.Add(ref s0, j), w);
                    j++;
                }
                p += run;
            }
            ref float oc = ref Unsafe.Add(ref o0, 16 * c);
            (even.A0 + odd.A0).StoreUnsafe(ref oc);
            if (w > 1) (even.A1 + odd.A1).StoreUnsafe(ref oc, 16);
            if (w > 2) (even.A2 + odd.A2).StoreUnsafe(ref oc, 32);
            if (w > 3) (even.A3 + odd.A3).StoreUnsafe(ref oc, 48);
        }
    }

    /// <summary>Four vector accumulators of a 64-wide slice of the output (the first <c>w</c> in use).</summary>
    private struct Acc4
    {
        public Vector512<float> A0, A1, A2, A3;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Add(ref float v, float weight, int w)
        {
            var p = Vector512.Create(weight);
            A0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v), p, A0);
            if (w > 1) A1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 16), p, A1);
            if (w > 2) A2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 32), p, A2);
            if (w > 3) A3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v, 48), p, A3);
        }

        /// <summary>Stores this + other for all four vectors (a 64-wide head).</summary>
        public readonly void StoreSum(in Acc4 other, ref float o)
        {
            (A0 + other.A0).StoreUnsafe(ref o);
            (A1 + other.A1).StoreUnsafe(ref o, 16);
            (A2 + other.A2).StoreUnsafe(ref o, 32);
            (A3 + other.A3).StoreUnsafe(ref o, 48);
        }
    }

    /// <summary>Scores of <paramref name="count"/> (1..4) key rows into s[0..count), tracking their maximum.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Scores4(ref float q, ref float k0, ReadOnlySpan<nint> rows, int count, int nv, float scale, float softcap, ref float s, ref float max)
    {
        var zero = Vector512<float>.Zero;
        var d0 = Dot(ref q, ref Unsafe.Add(ref k0, rows[0]), nv);
        var d1 = count > 1 ? Dot(ref q, ref Unsafe.Add(ref k0, rows[1]), nv) : zero;
        var d2 = count > 2 ? Dot(ref q, ref Unsafe.Add(ref k0, rows[2]), nv) : zero;
        var d3 = count > 3 ? Dot(ref q, ref Unsafe.Add(ref k0, rows[3]), nv) : zero;
        var s4 = Sum4(d0, d1, d2, d3) * scale;
        if (softcap > 0) s4 = Softcap(s4, softcap);
        if (count == 4)
        {
            s4.StoreUnsafe(ref s);
            max = MathF.Max(max, MathF.Max(MathF.Max(s4.GetElement(0), s4.GetElement(1)), MathF.Max(s4.GetElement(2), s4.GetElement(3))));
            return;
        }
        for (int i = 0; i < count; i++)
        {
            float v = s4.GetElement(i);
            Unsafe.Add(ref s, i) = v;
            if (v > max) max = v;
        }
    }

    /// <summary>tanh(s/cap)·cap per lane, as ggml: scale by 1/cap, tanh, scale by cap.</summary>
    private static Vector128<float> Softcap(Vector128<float> s, float cap)
    {
        float invCap = 1f / cap;
        for (int i = 0; i < 4; i++) s = s.WithElement(i, MathF.Tanh(s.GetElement(i) * invCap) * cap);
        return s;
    }

    /// <summary><see cref="Dot"/> for a 64-wide head with the query in registers: the same operations in the same order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Dot64(Vector512<float> qa, Vector512<float> qb, Vector512<float> qc, Vector512<float> qd, ref float k)
    {
        var acc = qa * Vector512.LoadUnsafe(ref k);
        acc = Vector512.FusedMultiplyAdd(qb, Vector512.LoadUnsafe(ref k, 16), acc);
        acc = Vector512.FusedMultiplyAdd(qc, Vector512.LoadUnsafe(ref k, 32), acc);
        return Vector512.FusedMultiplyAdd(qd, Vector512.LoadUnsafe(ref k, 48), acc);
    }

    /// <summary>Lane-wise products of q and one key row summed over the head's vectors (not yet across lanes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Dot(ref float q, ref float k, int nv)
    {
        var acc = Vector512.LoadUnsafe(ref q) * Vector512.LoadUnsafe(ref k);
        if (nv == 4)
        {
            acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q, 16), Vector512.LoadUnsafe(ref k, 16), acc);
            acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q, 32), Vector512.LoadUnsafe(ref k, 32), acc);
            return Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q, 48), Vector512.LoadUnsafe(ref k, 48), acc);
        }
        for (int v = 1; v < nv; v++)
            acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref q, (nuint)(16 * v)), Vector512.LoadUnsafe(ref k, (nuint)(16 * v)), acc);
        return acc;
    }

    /// <summary>
    /// The horizontal sums of four vectors, [Σa, Σb, Σc, Σd]. Each vector's lanes are added in the same
    /// tree whichever of the four it is: within each 128-bit lane (0+2)+(1+3), then the 128-bit lanes (0+2)+(1+3).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<float> Sum4(Vector512<float> a, Vector512<float> b, Vector512<float> c, Vector512<float> d)
    {
        // [a0+a2, b0+b2, a1+a3, b1+b3] in each 128-bit lane, and the same for c, d.
        var ab = Avx512F.UnpackLow(a, b) + Avx512F.UnpackHigh(a, b);
        var cd = Avx512F.UnpackLow(c, d) + Avx512F.UnpackHigh(c, d);
        // [(a0+a2)+(a1+a3), (b0+b2)+(b1+b3), c.., d..] in each 128-bit lane.
        var x = Avx512F.Shuffle(ab, cd, 0b01_00_01_00) + Avx512F.Shuffle(ab, cd, 0b11_10_11_10);
        var y = x.GetLower() + x.GetUpper();
        return y.GetLower() + y.GetUpper();
    }

    /// <summary>The portable path: any head dimension, no 512-bit vectors.</summary>
    private static void AttendScalar(ReadOnlySpan<float> q, ReadOnlySpan<float> kCache, ReadOnlySpan<float> vCache, int kvDim, int kvOffset,
        ReadOnlySpan<int> blockTable, int blockSize, int firstPosition, int contextLength, float scale, float softcap,
        Span<float> sc, Span<float> output)
    {
        int headDim = q.Length, n = sc.Length;
        float max = float.NegativeInfinity;
        float invCap = softcap > 0 ? 1f / softcap : 0f;
        for (int j = 0; j < n; j++)
        {
            int p = firstPosition + j;
            int slot = blockTable[p / blockSize] * blockSize + p % blockSize;
            float s = TensorPrimitives.Dot(q, kCache.Slice(slot * kvDim + kvOffset, headDim)) * scale;
            if (softcap > 0) s = MathF.Tanh(s * invCap) * softcap;
            sc[j] = s;
            if (s > max) max = s;
        }
        float inv = Softmax(sc, max);
        output[..headDim].Clear();
        for (int j = 0; j < n; j++)
        {
            int p = firstPosition + j;
            int slot = blockTable[p / blockSize] * blockSize + p % blockSize;
            TensorPrimitives.MultiplyAdd(vCache.Slice(slot * kvDim + kvOffset, headDim), sc[j] * inv, output[..headDim], output[..headDim]);
        }
    }
}
