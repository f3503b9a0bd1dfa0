using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Actors.Benchmarks;

/// <summary>
/// The integer dot-product instruction choice, measured in isolation on L1-resident data (16 KiB of
/// u8 and s8, four independent int32 accumulators): AVX-512BW vpmaddubsw+vpmaddwd on 512 bits vs
/// AVX-VNNI vpdpbusd on 256 bits (.NET exposes no 512-bit VNNI) vs AVX2 vpmaddubsw+vpmaddwd.
/// </summary>
internal static class IntDotThroughput
{
    private const int Bytes = 16 * 1024, Passes = 20000;

    public static void Print()
    {
        var u = new byte[Bytes];
        var s = new sbyte[Bytes];
        var rng = new Random(5);
        rng.NextBytes(u);
        for (int i = 0; i < Bytes; i++) { u[i] &= 0x3F; s[i] = (sbyte)rng.Next(-127, 128); }
        Console.WriteLine("## Integer dot throughput (L1-resident, one thread): products per ns");
        Console.WriteLine();
        Console.WriteLine("| instruction sequence | width | products/ns |");
        Console.WriteLine("|---|---:|---:|");
        if (Avx512BW.IsSupported) Console.WriteLine($"| vpmaddubsw + vpmaddwd (AVX-512BW) | 512 | {Measure(u, s, Bw512):F1} |");
        if (AvxVnni.IsSupported) Console.WriteLine($"| vpdpbusd (AVX-VNNI) | 256 | {Measure(u, s, Vnni256):F1} |");
        if (Avx2.IsSupported) Console.WriteLine($"| vpmaddubsw + vpmaddwd (AVX2) | 256 | {Measure(u, s, Avx2_256):F1} |");
        Console.WriteLine();
    }

    private static double Measure(byte[] u, sbyte[] s, Func<byte[], sbyte[], int> f)
    {
        f(u, s);
        var best = double.MaxValue;
        for (int r = 0; r < 5; r++)
        {
            var sw = Stopwatch.StartNew();
            for (int p = 0; p < Passes / 5; p++) f(u, s);
            best = Math.Min(best, sw.Elapsed.TotalSeconds);
        }
        return (double)Bytes * (Passes / 5) / best / 1e9;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Bw512(byte[] u, sbyte[] s)
    {
        ref byte ur = ref MemoryMarshal.GetArrayDataReference(u);
        ref sbyte sr = ref MemoryMarshal.GetArrayDataReference(s);
        Vector512<int> a0 = default, a1 = default, a2 = default, a3 = default;
        var one = Vector512<short>.One;
        for (nuint i = 0; i < Bytes; i += 256)
        {
            a0 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref ur, i), Vector512.LoadUnsafe(ref sr, i)), one);
            a1 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref ur, i + 64), Vector512.LoadUnsafe(ref sr, i + 64)), one);
            a2 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref ur, i + 128), Vector512.LoadUnsafe(ref sr, i + 128)), one);
            a3 += Avx512BW.MultiplyAddAdjacent(Avx512BW.MultiplyAddAdjacent(Vector512.LoadUnsafe(ref ur, i + 192), Vector512.LoadUnsafe(ref sr, i + 192)), one);
        }
        return Vector512.Sum((a0 + a1) + (a2 + a3));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Vnni256(byte[] u, sbyte[] s)
    {
        ref byte ur = ref MemoryMarshal.GetArrayDataReference(u);
        ref sbyte sr = ref MemoryMarshal.GetArrayDataReference(s);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
        for (nuint i = 0; i < Bytes; i += 128)
        {
            a0 = AvxVnni.MultiplyWideningAndAdd(a0, Vector256.LoadUnsafe(ref ur, i), Vector256.LoadUnsafe(ref sr, i));
            a1 = AvxVnni.MultiplyWideningAndAdd(a1, Vector256.LoadUnsafe(ref ur, i + 32), Vector256.LoadUnsafe(ref sr, i + 32));
            a2 = AvxVnni.MultiplyWideningAndAdd(a2, Vector256.LoadUnsafe(ref ur, i + 64), Vector256.LoadUnsafe(ref sr, i + 64));
            a3 = AvxVnni.MultiplyWideningAndAdd(a3, Vector256.LoadUnsafe(ref ur, i + 96), Vector256.LoadUnsafe(ref sr, i + 96));
        }
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Avx2_256(byte[] u, sbyte[] s)
    {
        ref byte ur = ref MemoryMarshal.GetArrayDataReference(u);
        ref sbyte sr = ref MemoryMarshal.GetArrayDataReference(s);
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
        var one = Vector256<short>.One;
        for (nuint i = 0; i < Bytes; i += 128)
        {
            a0 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref ur, i), Vector256.LoadUnsafe(ref sr, i)), one);
            a1 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref ur, i + 32), Vector256.LoadUnsafe(ref sr, i + 32)), one);
            a2 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref ur, i + 64), Vector256.LoadUnsafe(ref sr, i + 64)), one);
            a3 += Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref ur, i + 96), Vector256.LoadUnsafe(ref sr, i + 96)), one);
        }
        return Vector256.Sum((a0 + a1) + (a2 + a3));
    }
}
