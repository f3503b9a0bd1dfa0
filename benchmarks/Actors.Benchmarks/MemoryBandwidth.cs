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

    /// <summary>
    /// GB/s of the fastest segment read: the buffer is read in consecutive segments of
    /// <paramref name="segment"/> bytes (each split among the threads), each timed on its own, over
    /// <paramref name="repeats"/> passes. Short intervals are the ones that run uninterrupted on a
    /// shared machine; the kernels are timed the same way (per matrix copy).
    /// </summary>
    public double Measure(int threads, int repeats, long segment)
    {
        int n = _buffer.Length;
        int seg = (int)Math.Min(segment, n) / (64 * threads) * (64 * threads);
        Read(_buffer, 0, n); // fault the pages in
        double best = double.MaxValue;
        for (int k = 0; k < repeats; k++)
            for (long s = 0; s + seg <= n; s += seg) // long: a 1 GiB segment would overflow the step past the end
            {
                int start = (int)s;
                var sw = Stopwatch.StartNew();
                Parallel2.Run(threads, t => Read(_buffer, start + t * (seg / threads), seg / threads));
                best = Math.Min(best, sw.Elapsed.TotalSeconds);
            }
        return seg / best / 1e9;
    }
}
