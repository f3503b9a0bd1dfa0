using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Actors.Inference.Cpu.Kernels;

/// <summary>
/// A growable array whose element 0 sits on a 64-byte boundary. Array data starts 16 bytes into the
/// object, so without this every 64-byte activation load would straddle two cache lines. The array
/// is allocated on the pinned object heap, so the alignment found once stays valid.
/// </summary>
internal sealed class AlignedBuffer<T> where T : unmanaged
{
    private T[] _array = [];
    private int _offset;

    public int Length { get; private set; }

    public ref T Ref => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(_array), _offset);

    public T this[int i] => _array[_offset + i];

    public Span<T> Slice(int start, int length) => _array.AsSpan(_offset + start, length);

    public void EnsureLength(long n)
    {
        if (Length >= n) return;
        int slack = 64 / Unsafe.SizeOf<T>();
        if (n + slack > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(n), "activation batch too large");
        _array = GC.AllocateArray<T>((int)n + slack, pinned: true);
        long misalign = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0) % 64;
        _offset = (int)((64 - misalign) % 64) / Unsafe.SizeOf<T>();
        Length = (int)n;
    }
}
