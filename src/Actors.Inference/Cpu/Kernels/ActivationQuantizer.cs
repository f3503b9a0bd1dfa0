using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// Quantizes f32 activations to the int8 forms the integer kernels multiply with (ggml's
/// quantize_row_q8_0 / quantize_row_q8_K). Every step is an element-wise IEEE operation or an exact
/// reduction (max, integer sums), so the vector and scalar versions produce identical bytes; the
/// kernel path therefore never changes the quantized activations.
/// </summary>
internal static class ActivationQuantizer
{
    /// <summary>
    /// Q8_0, per block of 32, exactly as ggml's x86 quantize_row_q8_0: amax = max|x|, q =
    /// round-half-even(x·(127/amax)) in [-127, 127], and the scale d = amax/127 stored as f16 (we keep
    /// the f16 value widened to f32, which is what ggml's dot products multiply with). Also writes
    /// d·Σq, which kernels need for weights stored with an offset (Q4_0's q+8).
    /// </summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d, Span<float> scaledSums)
    {
        int nb = x.Length / 32;
        if (q.Length < x.Length || d.Length < nb || scaledSums.Length < nb) throw new ArgumentException("destination too small");
        for (int b = 0; b < nb; b++)
        {
            int sum = QuantizeBlock32(x.Slice(b * 32, 32), q.Slice(b * 32, 32), out float amax);
            float db = RoundToHalf(amax / 127f);
            d[b] = db;
            scaledSums[b] = db * sum;
        }
    }

    /// <summary>
    /// Q8_1, per block of 32 (ggml's x86 quantize_row_q8_1): the values and d as in Q8_0, and
    /// s = f16(d·Σq) with the unrounded f32 d, which weights with a min (Q4_1, Q5_1) multiply.
    /// </summary>
    public static void QuantizeQ8_1(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d, Span<float> s)
    {
        int nb = x.Length / 32;
        if (q.Length < x.Length || d.Length < nb || s.Length < nb) throw new ArgumentException("destination too small");
        for (int b = 0; b < nb; b++)
        {
            int sum = QuantizeBlock32(x.Slice(b * 32, 32), q.Slice(b * 32, 32), out float amax);
            float db = amax / 127f;
            d[b] = RoundToHalf(db);
            s[b] = RoundToHalf(db * sum);
        }
    }

    /// <summary>q = round-half-even(x·(127/amax)) (0 when amax is 0); returns Σq.</summary>
    private static int QuantizeBlock32(ReadOnlySpan<float> xb, Span<sbyte> qb, out float amax)
    {
        amax = Vector256.IsHardwareAccelerated ? AbsMax256(xb) : AbsMaxScalar(xb);
        float id = amax != 0 ? 127f / amax : 0f;
        return Vector256.IsHardwareAccelerated ? Scale256(xb, id, 127, qb) : ScaleScalar(xb, id, 127, qb);
    }

    /// <summary>f32 → f16 (round to nearest even, as F16C and ggml's converter) → f32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float RoundToHalf(float v) => (float)(Half)v;

    /// <summary>
    /// Q8_K, per block of 256 (ggml's quantize_row_q8_K): max = the value of largest magnitude (first
    /// one on ties), iscale = −127/max, q = min(127, round-half-even(iscale·x)), d = 1/iscale, and the
    /// sums of q over each 16 values.
    /// </summary>
    public static void QuantizeQ8_K(ReadOnlySpan<float> x, Span<sbyte> q, Span<float> d, Span<short> sums16)
    {
        int nb = x.Length / 256;
        if (q.Length < x.Length || d.Length < nb || sums16.Length < nb * 16) throw new ArgumentException("destination too small");
        for (int b = 0; b < nb; b++)
        {
            var xb = x.Slice(b * 256, 256);
            var qb = q.Slice(b * 256, 256);
            float amax = Vector256.IsHardwareAccelerated ? AbsMax256(xb) : AbsMaxScalar(xb);
            if (amax == 0)
            {
                d[b] = 0;
                qb.Clear();
                sums16.Slice(b * 16, 16).Clear();
                continue;
            }
            float max = 0;
            for (int j = 0; j < 256; j++)
                if (MathF.Abs(xb[j]) == amax) { max = xb[j]; break; }
            float iscale = -127f / max;
            for (int j = 0; j < 16; j++)
            {
                var xs = xb.Slice(16 * j, 16);
                var qs = qb.Slice(16 * j, 16);
                sums16[b * 16 + j] = (short)(Vector256.IsHardwareAccelerated ? Scale256(xs, iscale, 127, qs) : ScaleScalar(xs, iscale, 127, qs));
            }
            d[b] = 1f / iscale;
        }
    }

    private static float AbsMaxScalar(ReadOnlySpan<float> x)
    {
        float m = 0;
        foreach (float v in x) m = MathF.Max(m, MathF.Abs(v));
        return m;
    }

    private static float AbsMax256(ReadOnlySpan<float> x)
    {
        ref float r = ref MemoryMarshal.GetReference(x);
        var m = Vector256<float>.Zero;
        for (int i = 0; i < x.Length; i += 8) m = Vector256.Max(m, Vector256.Abs(Vector256.LoadUnsafe(ref r, (nuint)i)));
        var h = Vector128.Max(m.GetLower(), m.GetUpper());
        return MathF.Max(MathF.Max(h[0], h[1]), MathF.Max(h[2], h[3]));
    }

    /// <summary>q[i] = min(hi, round(x[i]·s)); returns Σq. Length is a multiple of 16.</summary>
    private static int ScaleScalar(ReadOnlySpan<float> x, float s, int hi, Span<sbyte> q)
    {
        int sum = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int v = Math.Min(hi, (int)MathF.Round(x[i] * s));
            q[i] = (sbyte)v;
            sum += v;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Scale256(ReadOnlySpan<float> x, float s, int hi, Span<sbyte> q)
    {
        ref float xr = ref MemoryMarshal.GetReference(x);
        ref sbyte qr = ref MemoryMarshal.GetReference(q);
        var vs = Vector256.Create(s);
        var vhi = Vector256.Create(hi);
        var sum = Vector256<int>.Zero;
        for (int i = 0; i < x.Length; i += 16)
        {
            var a = Vector256.Min(vhi, Vector256.ConvertToInt32(Vector256.Round(Vector256.LoadUnsafe(ref xr, (nuint)i) * vs)));
            var b = Vector256.Min(vhi, Vector256.ConvertToInt32(Vector256.Round(Vector256.LoadUnsafe(ref xr, (nuint)i + 8) * vs)));
            sum += a + b;
            var w = Vector256.Narrow(a, b); // 16 shorts, in order
            Vector128.Narrow(w.GetLower(), w.GetUpper()).StoreUnsafe(ref qr, (nuint)i);
        }
        return Vector256.Sum(sum);
    }
}
