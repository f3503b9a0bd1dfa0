using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Actors.Runtime.Transfer;

/// <summary>A measured bandwidth and latency of one copy path.</summary>
public sealed record CopyMeasurement(double BytesPerSecond, double LatencySeconds, long LargeBytes, long SmallBytes);

/// <summary>
/// The copy engine of host-memory paths (CPU devices on one machine, and the host leg of
/// host-staged copies): a span copy, the default engine of every path kind. Measured by
/// `actors topology --measure` with a small ping (latency: what decode-sized activations pay) and a
/// large copy (bandwidth: what prefill chunks and KV pages pay).
/// </summary>
public sealed class HostCopyEngine : ICopyEngine
{
    public static readonly HostCopyEngine Instance = new();

    public string Name => "host memory copy";

    public void Copy(ReadOnlySpan<float> source, Span<float> destination) => source.CopyTo(destination);

    public static void Copy(ReadOnlySpan<byte> source, Span<byte> destination) => source.CopyTo(destination);

    public static CopyMeasurement Measure(long largeBytes = 64L << 20, int smallBytes = 16 << 10, int repetitions = 5)
    {
        var src = GC.AllocateUninitializedArray<byte>((int)largeBytes, pinned: true);
        var dst = GC.AllocateUninitializedArray<byte>((int)largeBytes, pinned: true);
        new Random(1).NextBytes(src); // touch every page; never measure zeros
        dst.AsSpan().Fill(1);
        double best = double.MaxValue;
        for (int i = 0; i < repetitions; i++)
        {
            long t = Stopwatch.GetTimestamp();
            Copy(src, dst);
            best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        double ping = double.MaxValue;
        for (int i = 0; i < 200; i++)
        {
            long t = Stopwatch.GetTimestamp();
            Copy(src.AsSpan(0, smallBytes), dst.AsSpan(smallBytes, smallBytes));
            ping = Math.Min(ping, Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        return new CopyMeasurement(largeBytes / best, ping, largeBytes, smallBytes);
    }

    /// <summary>
    /// A plain memory-copy benchmark written independently of the engine (a vectorised load/store loop over
    /// 64-bit words), to check the engine's figure against: bytes copied per second.
    /// </summary>
    public static double PlainCopyBandwidth(long bytes = 64L << 20, int repetitions = 5)
    {
        var a = new long[bytes / 8];
        var b = new long[bytes / 8];
        for (int i = 0; i < a.Length; i++) a[i] = i * 2654435761L;
        double best = double.MaxValue;
        for (int r = 0; r < repetitions; r++)
        {
            long t = Stopwatch.GetTimestamp();
            var s = MemoryMarshal.Cast<long, System.Numerics.Vector<long>>(a.AsSpan());
            var d = MemoryMarshal.Cast<long, System.Numerics.Vector<long>>(b.AsSpan());
            for (int i = 0; i < s.Length; i++) d[i] = s[i];
            best = Math.Min(best, Stopwatch.GetElapsedTime(t).TotalSeconds);
        }
        return bytes / best;
    }
}
