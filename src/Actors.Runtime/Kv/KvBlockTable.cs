namespace Actors.Runtime.Kv;

/// <summary>
/// One sequence's block table: logical block i (token positions [i × BlockSize, (i+1) × BlockSize))
/// lives in physical block <see cref="Blocks"/>[i]. Tables are append-only while a sequence runs and
/// are emptied when it is freed or preempted. They are reused from sequence to sequence: the arrays
/// grow (doubling, up to <see cref="Capacity"/>) and never shrink, so a pooled table stops
/// allocating once it has served its longest sequence.
/// </summary>
public sealed class KvBlockTable
{
    private int[] _blocks;
    private long[] _hashes;

    internal KvBlockTable(int capacity)
    {
        Capacity = capacity;
        int initial = Math.Min(capacity, 8);
        _blocks = new int[initial];
        _hashes = new long[initial];
    }

    /// <summary>Most blocks the table may hold (the model's longest sequence).</summary>
    public int Capacity { get; }

    /// <summary>Blocks the sequence holds.</summary>
    public int Count { get; private set; }

    /// <summary>
    /// Leading blocks whose content hash is known (and registered in the prefix cache unless another
    /// block already held that content). Blocks from here on are not full or not yet computed.
    /// </summary>
    public int HashedCount { get; internal set; }

    /// <summary>
    /// Leading entries whose blocks went back to the pool because they slid out of the attention
    /// window (see <see cref="SlidingWindowBlocks"/>); they hold <see cref="SlidingWindowBlocks.Released"/>. 0 in a main table.
    /// </summary>
    public int ReleasedCount { get; internal set; }

    public ReadOnlySpan<int> Blocks => _blocks.AsSpan(0, Count);

    /// <summary>Content hashes of the first <see cref="HashedCount"/> blocks (each chains its parent's).</summary>
    public ReadOnlySpan<long> Hashes => _hashes.AsSpan(0, HashedCount);

    public int this[int index] => _blocks[index];

    internal void Append(int block)
    {
        if (Count == _blocks.Length) Grow();
        _blocks[Count++] = block;
    }

    internal void Replace(int index, int block) => _blocks[index] = block;

    internal void SetHash(int index, long hash)
    {
        while (index >= _hashes.Length) Grow();
        _hashes[index] = hash;
    }

    internal long HashAt(int index) => _hashes[index];

    internal void Clear()
    {
        Count = 0;
        HashedCount = 0;
        ReleasedCount = 0;
    }

    private void Grow()
    {
        if (_blocks.Length >= Capacity)
            throw new InvalidOperationException($"a block table holds at most {Capacity} blocks (the model's maximum length)");
        int size = Math.Min(Capacity, _blocks.Length * 2);
        Array.Resize(ref _blocks, size);
        Array.Resize(ref _hashes, size);
    }
}
