using Actors.Runtime.Collections;

namespace Actors.Runtime.Kv;

/// <summary>
/// Block tables of the sliding-window layers, over a <see cref="KvBlockPool"/> of their own. A table
/// keeps the logical indexing of the main one (entry i holds positions [i × BlockSize, (i+1) × BlockSize)),
/// but before each write the blocks that no query from the write on can see any more
/// (every position &lt; first visible position of the write's first token) go back to the pool and their
/// entries become -1. So a decoding sequence holds at most ceil(window / BlockSize) + 1 blocks here,
/// and a prefill chunk of n tokens at most ceil((window − 1 + n) / BlockSize) + 1 while it is written.
/// </summary>
/// <remarks>
/// Prefix caching: a full, computed block is registered in this pool under the main table's content
/// hash for the same index (the hash stands for the whole prefix up to it), so a released block stays
/// in the free list as a cached block and a later prompt with the same prefix can take it back. A hit
/// needs only the blocks its first write can see (<see cref="UsableHit"/>); earlier entries start
/// released. Shared blocks are full and before every write, so they are never written again.
/// Forks share blocks by reference count with copy-on-write, as in the main pool; swap stays off (the
/// scheduler turns it off).
/// Freeing while the sequence's previous step is in flight cannot happen: a sequence is in at most one
/// step at a time, and its next write is scheduled only after that step's result is applied.
/// </remarks>
public sealed class SlidingWindowBlocks
{
    public const int Released = -1;

    private readonly KvBlockPool _pool;
    private readonly int _blockSize;

    public SlidingWindowBlocks(KvBlockPool pool, int window)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        _pool = pool;
        _blockSize = pool.BlockSize;
        Window = window;
    }

    public KvBlockPool Pool => _pool;
    /// <summary>Positions a query sees: itself and the Window − 1 before it.</summary>
    public int Window { get; }

    /// <summary>First logical block a write starting at <paramref name="writeStart"/> still reads.</summary>
    public int FirstVisibleBlock(int writeStart) => Math.Max(0, writeStart - Window + 1) / _blockSize;

    /// <summary>Most blocks a sequence ever holds here while its total length grows to <paramref name="tokens"/>, writing at most <paramref name="chunk"/> tokens a step.</summary>
    public int PeakBlocks(int tokens, int chunk)
    {
        int all = (tokens + _blockSize - 1) / _blockSize;
        int span = Window - 1 + Math.Max(1, Math.Min(chunk, tokens));
        return Math.Min(all, (span + _blockSize - 1) / _blockSize + 1);
    }

    /// <summary>Blocks the table holds in the pool (entries not released).</summary>
    public int LiveBlocks(KvBlockTable table) => table.Count - table.ReleasedCount;

    /// <summary>Returns every block the write from <paramref name="writeStart"/> on can no longer see to the pool.</summary>
    public void ReleaseOutOfWindow(KvBlockTable table, int writeStart)
    {
        int end = Math.Min(FirstVisibleBlock(writeStart), table.Count);
        for (int i = table.ReleasedCount; i < end; i++)
        {
            _pool.Free(table[i]);
            table.Replace(i, Released);
        }
        if (end > table.ReleasedCount) table.ReleasedCount = end;
    }

    /// <summary>
    /// Blocks a running sequence's write of <paramref name="newTokens"/> tokens from <paramref name="writeStart"/>
    /// takes from the pool: fresh ones past its table, and a private copy of each block it writes that a fork
    /// shares (its table covers every position before the write; an empty one starts with <see cref="Start"/>).
    /// </summary>
    public int BlocksNeeded(KvBlockTable table, int writeStart, int newTokens) =>
        Math.Max(0, (writeStart + newTokens + _blockSize - 1) / _blockSize - table.Count) + SharedWritten(table, writeStart);

    /// <summary>
    /// Releases what slid out of the window, then makes room for the write: a private copy of every written
    /// block still shared with a fork (recorded as (shared → copy) in <paramref name="copies"/> for the device),
    /// then fresh blocks. All or nothing for the new blocks: false, with only the release done (it is final
    /// anyway), when the pool is short.
    /// </summary>
    public bool TryAllocate(KvBlockTable table, int writeStart, int newTokens, ReusableList<BlockCopy> copies)
    {
        ReleaseOutOfWindow(table, writeStart);
        int shared = SharedWritten(table, writeStart);
        int fresh = BlocksNeeded(table, writeStart, newTokens) - shared;
        if (fresh + shared > _pool.FreeCount) return false;
        for (int i = writeStart / _blockSize; i < table.Count && shared > 0; i++)
        {
            int source = table[i];
            if (_pool.RefCount(source) <= 1) continue;
            int copy = _pool.TryAllocate();
            copies.Add(new BlockCopy(source, copy));
            _pool.Free(source); // only this sequence's reference; the fork keeps the block
            table.Replace(i, copy);
            shared--;
        }
        for (int i = 0; i < fresh; i++) table.Append(_pool.TryAllocate());
        return true;
    }

    /// <summary>
    /// Gives <paramref name="child"/> (empty) the same table as <paramref name="parent"/>: live blocks shared by
    /// reference count, released entries released. The first of the two to write into the shared, partly
    /// filled last block gets a private copy (<see cref="TryAllocate"/>).
    /// </summary>
    public void Fork(KvBlockTable parent, KvBlockTable child)
    {
        if (child.Count != 0) throw new InvalidOperationException("a fork needs an empty child table");
        for (int i = 0; i < parent.Count; i++)
        {
            if (i >= parent.ReleasedCount) _pool.AddRef(parent[i]);
            child.Append(parent[i]);
        }
        child.ReleasedCount = parent.ReleasedCount;
        child.HashedCount = parent.HashedCount;
    }

    /// <summary>Blocks of the table from the one holding <paramref name="writeStart"/> on that another table shares (only a fork's partly filled last block).</summary>
    private int SharedWritten(KvBlockTable table, int writeStart)
    {
        int shared = 0;
        for (int i = Math.Max(writeStart / _blockSize, table.ReleasedCount); i < table.Count; i++)
            if (_pool.RefCount(table[i]) > 1) shared++;
        return shared;
    }

    /// <summary>
    /// Registers the live blocks of <paramref name="table"/> that the main table has hashed since the last call
    /// (full and computed) under the main table's hashes. The table's <see cref="KvBlockTable.HashedCount"/>
    /// says how far this went (its own hash array stays unused).
    /// </summary>
    public void CacheComputed(KvBlockTable table, KvBlockTable main)
    {
        var hashes = main.Hashes;
        for (int i = Math.Max(table.HashedCount, table.ReleasedCount); i < hashes.Length && i < table.Count; i++)
            _pool.TryCache(table[i], hashes[i]); // false: the same prefix is cached in another block already; fine
        if (hashes.Length > table.HashedCount) table.HashedCount = hashes.Length;
    }

    /// <summary>
    /// The longest prefix of a main-pool hit of <paramref name="hashes"/>.Length blocks whose first write can see
    /// only blocks cached here: for h blocks, those of positions [h × BlockSize − window + 1, h × BlockSize).
    /// </summary>
    public int UsableHit(ReadOnlySpan<long> hashes)
    {
        for (int h = hashes.Length; h > 0; h--)
        {
            bool all = true;
            for (int i = FirstVisibleBlock(h * _blockSize); i < h && all; i++) all = _pool.TryGetCached(hashes[i], out _);
            if (all) return h;
        }
        return 0;
    }

    /// <summary>
    /// Whether an empty table can start with the cached blocks of a hit of <paramref name="hashes"/>.Length blocks
    /// (<see cref="UsableHit"/>) and fresh blocks for <paramref name="newTokens"/> tokens after it.
    /// </summary>
    public bool HasRoomToStart(ReadOnlySpan<long> hashes, int newTokens)
    {
        int hits = hashes.Length, first = FirstVisibleBlock(hits * _blockSize);
        int fresh = (hits * _blockSize + newTokens + _blockSize - 1) / _blockSize - hits;
        int freeHits = 0;
        for (int i = first; i < hits; i++)
        {
            if (!_pool.TryGetCached(hashes[i], out int block)) return false;
            if (_pool.RefCount(block) == 0) freeHits++; // taken out of the free list, so not there for fresh blocks
        }
        return fresh <= _pool.FreeCount - freeHits;
    }

    /// <summary>Starts an empty table as <see cref="HasRoomToStart"/> found room for: released entries, the hit blocks it sees, fresh blocks.</summary>
    public void Start(KvBlockTable table, ReadOnlySpan<long> hashes, int newTokens)
    {
        if (table.Count != 0) throw new InvalidOperationException("a sliding-window table can only start empty");
        if (!HasRoomToStart(hashes, newTokens)) throw new InvalidOperationException("the sliding-window pool has no room to start this sequence");
        int hits = hashes.Length, first = FirstVisibleBlock(hits * _blockSize);
        for (int i = 0; i < first; i++) table.Append(Released);
        table.ReleasedCount = first;
        // Hits before fresh blocks: a fresh allocation could otherwise evict one of them.
        for (int i = first; i < hits; i++)
        {
            _pool.TryGetCached(hashes[i], out int block);
            _pool.AddRef(block);
            table.Append(block);
        }
        table.HashedCount = hits;
        int fresh = (hits * _blockSize + newTokens + _blockSize - 1) / _blockSize - hits;
        for (int i = 0; i < fresh; i++) table.Append(_pool.TryAllocate());
    }

    /// <summary>Releases every block the table still holds and empties it.</summary>
    public void Free(KvBlockTable table)
    {
        for (int i = table.Count - 1; i >= table.ReleasedCount; i--) _pool.Free(table[i]);
        table.Clear();
    }
}
