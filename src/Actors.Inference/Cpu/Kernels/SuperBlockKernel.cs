using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Actors.Inference.Cpu.Kernels.QuantMath;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// 256-value K-quant and IQ4_XS weights against Q8_K activations, as ggml's vec_dot computes them:
/// per block the exact integers Σ_j sc_j·Σ q·x (vpmaddubsw, then vpmaddwd with the scales of each 16
/// values) and Σ_j m_j·Σx (from the activations' 16-value sums), then
/// d_x·d·isum − d_x·dmin·msum in f32. A block is decoded once to int8 and shared by a tile of tokens.
/// On the AVX-512 path every type keeps llama.cpp's float order (<see cref="ISuperBlockDecoder.EightLanes"/>,
/// <see cref="ISuperBlockDecoder.Repacked"/>).
/// </summary>
internal readonly struct SuperBlockKernel<T> : IRowKernel where T : struct, ISuperBlockDecoder
{
    public static int Tile(KernelPath path) => 4;

    public static int Prefill(KernelPath path, ref byte rows0, int rowBytes, int rows, PreparedActivations a, int tokens, ref float y, nint yStride) => 0;

    public static bool Dot2Rows(KernelPath path, ref byte row0, ref byte row1, PreparedActivations a, int t, out float y0, out float y1)
    {
        y0 = y1 = 0;
        return false;
    }

    /// <summary>
    /// A decoded block: 256 weights, 16 scales, 16 mins. Written and read in 16-byte pieces only: a wider
    /// load over narrower stores cannot be forwarded from the store buffer and stalls.
    /// </summary>
    [InlineArray(256 + 32 + 32)]
    private struct Scratch
    {
        private byte _b;
    }

    public static float Dot1(KernelPath path, ref byte row, PreparedActivations a, int t)
    {
        if (path == KernelPath.Avx512) return Dot512(ref row, a, t);
        Scratch s = default;
        ref byte p = ref Unsafe.As<Scratch, byte>(ref s);
        ref sbyte w = ref Unsafe.As<byte, sbyte>(ref p);
        ref short sc = ref Unsafe.As<byte, short>(ref Unsafe.Add(ref p, 256));
        ref short mn = ref Unsafe.As<byte, short>(ref Unsafe.Add(ref p, 288));
        float acc = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode(ref Unsafe.Add(ref row, b * T.BlockBytes), ref w, ref sc, ref mn, out float d, out float dmin);
            acc = Step(path, acc, ref w, ref sc, ref mn, d, dmin, a, t, b);
        }
        return acc;
    }

    public static void DotTile(KernelPath path, ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        if (path == KernelPath.Avx512)
        {
            Tile512(ref row, a, t0, ref y, ys);
            return;
        }
        Scratch s = default;
        ref byte p = ref Unsafe.As<Scratch, byte>(ref s);
        ref sbyte w = ref Unsafe.As<byte, sbyte>(ref p);
        ref short sc = ref Unsafe.As<byte, short>(ref Unsafe.Add(ref p, 256));
        ref short mn = ref Unsafe.As<byte, short>(ref Unsafe.Add(ref p, 288));
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (int b = 0; b < a.Blocks; b++)
        {
            Decode(ref Unsafe.Add(ref row, b * T.BlockBytes), ref w, ref sc, ref mn, out float d, out float dmin);
            a0 = Step(path, a0, ref w, ref sc, ref mn, d, dmin, a, t0, b);
            a1 = Step(path, a1, ref w, ref sc, ref mn, d, dmin, a, t0 + 1, b);
            a2 = Step(path, a2, ref w, ref sc, ref mn, d, dmin, a, t0 + 2, b);
            a3 = Step(path, a3, ref w, ref sc, ref mn, d, dmin, a, t0 + 3, b);
        }
        y = a0;
        Unsafe.Add(ref y, ys) = a1;
        Unsafe.Add(ref y, 2 * ys) = a2;
        Unsafe.Add(ref y, 3 * ys) = a3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Decode(ref byte blk, ref sbyte w, ref short sc, ref short mn, out float d, out float dmin) =>
        T.Decode(ref blk, ref w, ref sc, ref mn, out d, out dmin);

    /// <summary>acc + d_x·d·Σ sc·q·x − d_x·dmin·Σ m·Σx for token t and block b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Step(KernelPath path, float acc, ref sbyte w, ref short sc, ref short mn, float d, float dmin, PreparedActivations a, int t, int b)
    {
        ref sbyte x = ref Unsafe.Add(ref Quants(a, t), 256 * b);
        int isum = path switch
        {
            KernelPath.Avx512 or KernelPath.Avx2 => IntDot256(ref w, ref x, ref sc),
            _ => IntDot128(ref w, ref x, ref sc),
        };
        float dx = Unsafe.Add(ref Scales(a, t), b);
        acc = MathF.FusedMultiplyAdd(dx * d, isum, acc);
        if (T.HasMin)
        {
            ref short bs = ref Unsafe.Add(ref Sums16(a, t), 16 * b);
            var m = Vector256.Create(Vector128.LoadUnsafe(ref mn), Vector128.LoadUnsafe(ref mn, 8));
            var sums = Vector256.LoadUnsafe(ref bs);
            int msum = Vector256.Sum(Avx2.IsSupported ? Avx2.MultiplyAddAdjacent(m, sums)
                : Vector256.WidenLower(m) * Vector256.WidenLower(sums) + Vector256.WidenUpper(m) * Vector256.WidenUpper(sums));
            acc = MathF.FusedMultiplyAdd(-(dx * dmin), msum, acc);
        }
        return acc;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int IntDot256(ref sbyte w, ref sbyte x, ref short sc)
    {
        var acc = Vector256<int>.Zero;
        for (int c = 0; c < 8; c++)
        {
            var wv = Vector256.Create(Vector128.LoadUnsafe(ref w, (nuint)(32 * c)), Vector128.LoadUnsafe(ref w, (nuint)(32 * c + 16)));
            var xv = Vector256.LoadUnsafe(ref x, (nuint)(32 * c));
            var p = Avx2.MultiplyAddAdjacent(Avx2.Abs(wv), Avx2.Sign(xv, wv));
            var scales = Vector256.Create(Vector128.Create(Unsafe.Add(ref sc, 2 * c)), Vector128.Create(Unsafe.Add(ref sc, 2 * c + 1)));
            acc += Avx2.MultiplyAddAdjacent(p, scales);
        }
        return Vector256.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int IntDot128(ref sbyte w, ref sbyte x, ref short sc)
    {
        int isum = 0;
        for (int j = 0; j < 16; j++)
            isum += Unsafe.Add(ref sc, j) * Vector128.Sum(DotI8(Load128(ref w, 16 * j), Load128(ref x, 16 * j)));
        return isum;
    }

    // ---------------- AVX-512: the block decoded into registers, 64 values per vector ----------------

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<int> Chunk512(Vector512<sbyte> w, Vector512<short> sc, ref sbyte x, int off)
    {
        var xv = Vector512.LoadUnsafe(ref x, (nuint)off);
        var p = T.Signed
            ? Avx512BW.MultiplyAddAdjacent(Avx512BW.Abs(w), Vector512.ConditionalSelect(Vector512.LessThan(w, Vector512<sbyte>.Zero), Vector512<sbyte>.Zero - xv, xv))
            : Avx512BW.MultiplyAddAdjacent(w.AsByte(), xv);
        return Avx512BW.MultiplyAddAdjacent(p, sc);
    }

    /// <summary>acc += d·d_x·Σ sc·q·x (16 lanes), accM += dmin·d_x·Σ m·Σx (8 lanes) for one token and block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token512(ref Vector512<float> acc, ref Vector256<float> accM, in SuperBlock512 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Chunk512(k.W0, k.S0, ref x, o) + Chunk512(k.W1, k.S1, ref x, o + 64))
                 + (Chunk512(k.W2, k.S2, ref x, o + 128) + Chunk512(k.W3, k.S3, ref x, o + 192));
        float dxb = Unsafe.Add(ref dx, b);
        acc = Vector512.FusedMultiplyAdd(Vector512.ConvertToSingle(isum), Vector512.Create(k.D * dxb), acc);
        if (T.HasMin)
        {
            var mi = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Mins);
            accM = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(mi), Vector256.Create(k.DMin * dxb), accM);
        }
    }

    /// <summary>
    /// ggml's AVX2 vec_dot order (<see cref="ISuperBlockDecoder.EightLanes"/>): acc += f32(lanes)·(d_x·d)
    /// with lanes = the 16-lane sums folded to ggml's 8, and summs += −(d_x·dmin)·Σ m·Σx as one FMA.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Token256(ref Vector256<float> acc, ref float summs, in SuperBlock512 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Chunk512(k.W0, k.S0, ref x, o) + Chunk512(k.W1, k.S1, ref x, o + 64))
                 + (Chunk512(k.W2, k.S2, ref x, o + 128) + Chunk512(k.W3, k.S3, ref x, o + 192));
        float dxb = Unsafe.Add(ref dx, b);
        acc = Vector256.FusedMultiplyAdd(Vector256.ConvertToSingle(isum.GetLower() + isum.GetUpper()), Vector256.Create(dxb * k.D), acc);
        if (T.HasMin)
        {
            var mi = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Mins);
            summs = MathF.FusedMultiplyAdd(-(dxb * k.DMin), Vector256.Sum(mi), summs);
        }
    }

    /// <summary>llama.cpp's repacked gemv order (<see cref="ISuperBlockDecoder.Repacked"/>) for one token and block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void TokenRepacked(ref float acc, ref float accM, in SuperBlock512 k, ref sbyte x, ref float dx, ref short bs, int b)
    {
        int o = 256 * b;
        var isum = (Chunk512(k.W0, k.S0, ref x, o) + Chunk512(k.W1, k.S1, ref x, o + 64))
                 + (Chunk512(k.W2, k.S2, ref x, o + 128) + Chunk512(k.W3, k.S3, ref x, o + 192));
        float dxb = Unsafe.Add(ref dx, b);
        acc = MathF.FusedMultiplyAdd(Vector512.Sum(isum), k.D * dxb, acc);
        if (T.HasMin)
        {
            var mi = Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), k.Mins);
            accM = MathF.FusedMultiplyAdd(Vector256.Sum(mi), k.DMin * dxb, accM);
        }
    }

    /// <summary>
    /// llama.cpp's batch order for repacked types (its q2_K 8×8 gemm, tokens taken four at a time): the
    /// gemv's folds per half block (128 values) instead of per block, values and mins alike, for one row ×
    /// tokens t[0..3] (any four, repeats allowed) into y[0..3]; AVX-512 path, repacked types only
    /// (<see cref="ISuperBlockDecoder.Repacked"/>).
    /// </summary>
    public static void BatchTile(ref byte row, PreparedActivations a, ref int t, ref float y)
    {
        if (!T.Repacked) throw new NotSupportedException("only repacked types have a batch order of their own");
        int t0 = t, t1 = Unsafe.Add(ref t, 1), t2 = Unsafe.Add(ref t, 2), t3 = Unsafe.Add(ref t, 3);
        ref sbyte x0 = ref Quants(a, t0), x1 = ref Quants(a, t1), x2 = ref Quants(a, t2), x3 = ref Quants(a, t3);
        ref float d0 = ref Scales(a, t0), d1 = ref Scales(a, t1), d2 = ref Scales(a, t2), d3 = ref Scales(a, t3);
        ref short b0 = ref Sums16(a, t0), b1 = ref Sums16(a, t1), b2 = ref Sums16(a, t2), b3 = ref Sums16(a, t3);
        // Lane k holds token k, per block: acc = fma(f32(Σ values 0..127), d·d_x, acc), then the same for 128..255,
        // and the mins alike into accM; the integer sums reduced for all four tokens at once.
        Vector128<float> acc = default, accM = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
            int o = 256 * b;
            var sums = QuadSums(
                HalfSum(k.W0, k.S0, k.W1, k.S1, ref x0, o), HalfSum(k.W0, k.S0, k.W1, k.S1, ref x1, o),
                HalfSum(k.W0, k.S0, k.W1, k.S1, ref x2, o), HalfSum(k.W0, k.S0, k.W1, k.S1, ref x3, o),
                HalfSum(k.W2, k.S2, k.W3, k.S3, ref x0, o + 128), HalfSum(k.W2, k.S2, k.W3, k.S3, ref x1, o + 128),
                HalfSum(k.W2, k.S2, k.W3, k.S3, ref x2, o + 128), HalfSum(k.W2, k.S2, k.W3, k.S3, ref x3, o + 128));
            var dx = Vector128.Create(Unsafe.Add(ref d0, b), Unsafe.Add(ref d1, b), Unsafe.Add(ref d2, b), Unsafe.Add(ref d3, b));
            var e = Vector128.Create(k.D) * dx;
            var sf = Vector256.ConvertToSingle(sums);
            acc = Vector128.FusedMultiplyAdd(sf.GetLower(), e, acc);
            acc = Vector128.FusedMultiplyAdd(sf.GetUpper(), e, acc);
            if (T.HasMin)
            {
                // mi's lanes 0-3 are the first half's mins, 4-7 the second's: two horizontal adds leave
                // [first half of tokens 0..3 | second half of tokens 0..3].
                var mins = Avx2.HorizontalAdd(
                    Avx2.HorizontalAdd(MinSums(ref b0, b, k.Mins), MinSums(ref b1, b, k.Mins)),
                    Avx2.HorizontalAdd(MinSums(ref b2, b, k.Mins), MinSums(ref b3, b, k.Mins)));
                var f = Vector128.Create(k.DMin) * dx;
                var mf = Vector256.ConvertToSingle(mins);
                accM = Vector128.FusedMultiplyAdd(mf.GetLower(), f, accM);
                accM = Vector128.FusedMultiplyAdd(mf.GetUpper(), f, accM);
            }
        }
        (acc - accM).StoreUnsafe(ref y);
    }

    /// <summary>The integer products of half a block (two 64-value chunks) for one token, folded to 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> HalfSum(Vector512<sbyte> wa, Vector512<short> sa, Vector512<sbyte> wb, Vector512<short> sb, ref sbyte x, int o)
    {
        var s = Chunk512(wa, sa, ref x, o) + Chunk512(wb, sb, ref x, o + 64);
        return s.GetLower() + s.GetUpper();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MinSums(ref short bs, int b, Vector256<short> mins) =>
        Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref bs, (nuint)(16 * b)), mins);

    /// <summary>[Σl0, Σl1, Σl2, Σl3 | Σh0, Σh1, Σh2, Σh3], each the sum of a vector's eight lanes (exact integers).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> QuadSums(Vector256<int> l0, Vector256<int> l1, Vector256<int> l2, Vector256<int> l3,
        Vector256<int> h0, Vector256<int> h1, Vector256<int> h2, Vector256<int> h3)
    {
        var l = Avx2.HorizontalAdd(Avx2.HorizontalAdd(l0, l1), Avx2.HorizontalAdd(l2, l3));
        var h = Avx2.HorizontalAdd(Avx2.HorizontalAdd(h0, h1), Avx2.HorizontalAdd(h2, h3));
        return Avx2.Permute2x128(l, h, 0x20) + Avx2.Permute2x128(l, h, 0x31);
    }

    private static float Dot512(ref byte row, PreparedActivations a, int t)
    {
        if (T.Repacked)
        {
            float r = 0, rm = 0;
            for (int b = 0; b < a.Blocks; b++)
            {
                T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
                TokenRepacked(ref r, ref rm, in k, ref Quants(a, t), ref Scales(a, t), ref Sums16(a, t), b);
            }
            return r - rm;
        }
        if (T.EightLanes)
        {
            Vector256<float> acc8 = default;
            float summs = 0;
            for (int b = 0; b < a.Blocks; b++)
            {
                T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
                Token256(ref acc8, ref summs, in k, ref Quants(a, t), ref Scales(a, t), ref Sums16(a, t), b);
            }
            return VectorMath.HSum(acc8) + summs;
        }
        ref sbyte x = ref Quants(a, t);
        ref float dx = ref Scales(a, t);
        ref short bs = ref Sums16(a, t);
        Vector512<float> acc = default;
        Vector256<float> accM = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
            Token512(ref acc, ref accM, in k, ref x, ref dx, ref bs, b);
        }
        return VectorMath.HSum(acc) - VectorMath.HSum(accM);
    }

    private static void Tile512(ref byte row, PreparedActivations a, int t0, ref float y, nint ys)
    {
        int n = a.Cols, ss = a.ScaleStride, n16 = a.Blocks * 16;
        ref sbyte x0 = ref Quants(a, t0);
        ref float d0 = ref Scales(a, t0);
        ref short b0 = ref Sums16(a, t0);
        if (T.Repacked)
        {
            float r0 = 0, r1 = 0, r2 = 0, r3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;
            for (int b = 0; b < a.Blocks; b++)
            {
                T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
                TokenRepacked(ref r0, ref q0, in k, ref x0, ref d0, ref b0, b);
                TokenRepacked(ref r1, ref q1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
                TokenRepacked(ref r2, ref q2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
                TokenRepacked(ref r3, ref q3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
            }
            y = r0 - q0;
            Unsafe.Add(ref y, ys) = r1 - q1;
            Unsafe.Add(ref y, 2 * ys) = r2 - q2;
            Unsafe.Add(ref y, 3 * ys) = r3 - q3;
            return;
        }
        if (T.EightLanes)
        {
            Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (int b = 0; b < a.Blocks; b++)
            {
                T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
                Token256(ref c0, ref s0, in k, ref x0, ref d0, ref b0, b);
                Token256(ref c1, ref s1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
                Token256(ref c2, ref s2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
                Token256(ref c3, ref s3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
            }
            y = VectorMath.HSum(c0) + s0;
            Unsafe.Add(ref y, ys) = VectorMath.HSum(c1) + s1;
            Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(c2) + s2;
            Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(c3) + s3;
            return;
        }
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> m0 = default, m1 = default, m2 = default, m3 = default;
        for (int b = 0; b < a.Blocks; b++)
        {
            T.Decode512(ref Unsafe.Add(ref row, b * T.BlockBytes), out var k);
            Token512(ref a0, ref m0, in k, ref x0, ref d0, ref b0, b);
            Token512(ref a1, ref m1, in k, ref Unsafe.Add(ref x0, n), ref Unsafe.Add(ref d0, ss), ref Unsafe.Add(ref b0, n16), b);
            Token512(ref a2, ref m2, in k, ref Unsafe.Add(ref x0, 2 * n), ref Unsafe.Add(ref d0, 2 * ss), ref Unsafe.Add(ref b0, 2 * n16), b);
            Token512(ref a3, ref m3, in k, ref Unsafe.Add(ref x0, 3 * n), ref Unsafe.Add(ref d0, 3 * ss), ref Unsafe.Add(ref b0, 3 * n16), b);
        }
        y = VectorMath.HSum(a0) - VectorMath.HSum(m0);
        Unsafe.Add(ref y, ys) = VectorMath.HSum(a1) - VectorMath.HSum(m1);
        Unsafe.Add(ref y, 2 * ys) = VectorMath.HSum(a2) - VectorMath.HSum(m2);
        Unsafe.Add(ref y, 3 * ys) = VectorMath.HSum(a3) - VectorMath.HSum(m3);
    }
}
