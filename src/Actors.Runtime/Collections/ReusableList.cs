namespace Actors.Runtime.Collections;

/// <summary>
/// A list meant to be cleared and refilled over and over: it only grows (doubling), never shrinks,
/// and hands out its contents as spans. Once it has reached its steady-state size, filling it
/// allocates nothing, which is what per-step scheduler outputs need.
/// </summary>
public sealed class ReusableList<T>
{
    private T[] _items;

    public ReusableList(int initialCapacity = 16) => _items = new T[Math.Max(1, initialCapacity)];

    public int Count { get; private set; }

    public int Capacity => _items.Length;

    public ReadOnlySpan<T> Span => _items.AsSpan(0, Count);

    public ref T this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"list holds {Count} items");
            return ref _items[index];
        }
    }

    public void Add(T item)
    {
        if (Count == _items.Length) Array.Resize(ref _items, _items.Length * 2);
        _items[Count++] = item;
    }

    /// <summary>Appends <paramref name="items"/> and returns the index of the first one.</summary>
    public int AddRange(ReadOnlySpan<T> items)
    {
        int start = Count;
        EnsureCapacity(Count + items.Length);
        items.CopyTo(_items.AsSpan(Count));
        Count += items.Length;
        return start;
    }

    /// <summary>Drops the last <paramref name="count"/> items.</summary>
    public void RemoveLast(int count)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Count);
        Count -= count;
    }

    /// <summary>Forgets the contents; references stay in the array until overwritten (they are reused objects).</summary>
    public void Clear() => Count = 0;

    public void EnsureCapacity(int capacity)
    {
        if (capacity <= _items.Length) return;
        int size = _items.Length;
        while (size < capacity) size *= 2;
        Array.Resize(ref _items, size);
    }
}
