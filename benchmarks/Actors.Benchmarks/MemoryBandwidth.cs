using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Actors.Benchmarks;

/// <summary>
/// Plain streaming read bandwidth: OR-reduce a buffer far larger than the caches with 4 independent
/// 64-byte loads per iteration, on one thread and on two threads (each half the buffer). This is the
/// ceiling the decode kernels are compared with.
/// </summary>
internal sealed class MemoryBandwidth
{
    private readonly byte[] _buffer;

    public MemoryBandwidth(int bytes)
    {
        _buffer = GC.AllocateUninitializedArray<byte>(bytes, pinned: true);
        new Random(1).NextBytes(_buffer);
    }

    public static byte Read(byte[] b, int start, int length)
    {
        ref byte r = ref MemoryMarshal.GetArrayDataReference(b);
        Vector256<byte> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = start; i + 128 <= start + length; i += 128)
        {
            a0 |= Vector256.LoadUnsafe(ref r, (nuint)i);
            a1 |= Vector256.LoadUnsafe(ref r, (nuint)i + 32);
            a2 |= Vector256.LoadUnsafe(ref r, (nuint)i + 64);
            a3 |= Vector256.LoadUnsafe(ref r, (nuint)i + 96);
        }
        return ((a0 | a1) | (a2 | a3)).GetElement(0);
    }

    /// <summary>GB/s of the fastest of <paramref name="repeats"/> passes (interference only adds time).</summary>
    public double Measure(int threads, int repeats)
    {
        int n = _buffer.Length;
        var times = new double[repeats];
        Read(_buffer, 0, n); // warm the pages
        for (int k = 0; k < repeats; k++)
        {
            var sw = Stopwatch.StartNew();
            Parallel2.Run(threads, t => Read(_buffer, t * (n / threads), n / threads));
            times[k] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return n / times[0] / 1e9;
    }
}
