using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Benchmarks;

/// <summary>
/// This core's arithmetic peak, measured: register-only loops with twelve independent accumulators
/// (enough to cover the instructions' latency), no memory traffic. The tiled kernels' GOP/s are
/// reported as a share of these: f32 FMA on 512 bits (2 flops per lane) and AVX-VNNI vpdpbusd on 256
/// bits (2 ops per u8·s8 product), the instruction the int8 tiles use.
/// </summary>
internal static class ComputePeak
{
    private const int Iterations = 2_000_000;

    /// <summary>Best of five runs, GFLOP/s of one thread.</summary>
    public static double Fma512() => Best(() => Fma(Vector512.Create(1.0001f)), 12.0 * 16 * 2 * Iterations);

    /// <summary>Best of five runs, int8 GOP/s (2 per product) of one thread; 0 without AVX-VNNI.</summary>
    public static double Vnni256() => AvxVnni.IsSupported ? Best(() => Vnni(Vector256.Create((byte)3), Vector256.Create((sbyte)-2)), 12.0 * 32 * 2 * Iterations) : 0;

    private static double Best(Func<float> body, double ops)
    {
        body();
        double best = double.MaxValue;
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            body();
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return ops / best / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Fma(Vector512<float> m)
    {
        Vector512<float> a0 = m, a1 = m, a2 = m, a3 = m, a4 = m, a5 = m, a6 = m, a7 = m, a8 = m, a9 = m, a10 = m, a11 = m;
        var c = Vector512.Create(0.9999f);
        for (int i = 0; i < Iterations; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
        }
        return Vector512.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Vnni(Vector256<byte> u, Vector256<sbyte> s)
    {
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default,
            a6 = default, a7 = default, a8 = default, a9 = default, a10 = default, a11 = default;
        for (int i = 0; i < Iterations; i++)
        {
            a0 = AvxVnni.MultiplyWideningAndAdd(a0, u, s); a1 = AvxVnni.MultiplyWideningAndAdd(a1, u, s);
            a2 = AvxVnni.MultiplyWideningAndAdd(a2, u, s); a3 = AvxVnni.MultiplyWideningAndAdd(a3, u, s);
            a4 = AvxVnni.MultiplyWideningAndAdd(a4, u, s); a5 = AvxVnni.MultiplyWideningAndAdd(a5, u, s);
            a6 = AvxVnni.MultiplyWideningAndAdd(a6, u, s); a7 = AvxVnni.MultiplyWideningAndAdd(a7, u, s);
            a8 = AvxVnni.MultiplyWideningAndAdd(a8, u, s); a9 = AvxVnni.MultiplyWideningAndAdd(a9, u, s);
            a10 = AvxVnni.MultiplyWideningAndAdd(a10, u, s); a11 = AvxVnni.MultiplyWideningAndAdd(a11, u, s);
        }
        return Vector256.Sum(a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11);
    }
}
