using System.Collections.Concurrent;

namespace Actors.Runtime.Internal;

/// <summary>
/// Hidden states travelling between pipeline stages: [tokens × hidden] floats. Buffers are pooled
/// and returned by whoever consumes them, so steady-state steps allocate none.
/// </summary>
internal sealed class HiddenBuffer
{
    public float[] Data;
    public int Length;

    private HiddenBuffer(int capacity) => Data = new float[capacity];

    private static readonly ConcurrentBag<HiddenBuffer> Pool = new();

    public static HiddenBuffer Rent(int length)
    {
        if (!Pool.TryTake(out var b)) b = new HiddenBuffer(length);
        if (b.Data.Length < length) b.Data = new float[length];
        b.Length = length;
        return b;
    }

    public void Return() => Pool.Add(this);

    public Span<float> Span => Data.AsSpan(0, Length);
}
