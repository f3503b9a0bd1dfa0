using Actors.Runtime.Collections;

namespace Actors.Runtime.Kv;

/// <summary>
/// Per-sequence KV bookkeeping on top of a <see cref="KvBlockPool"/>: block tables, prefix-cache
/// lookups, all-or-nothing slot allocation, copy-on-write, caching of blocks as they fill, swap
/// bookkeeping and freeing. Knows nothing about scheduling: callers say which token positions a
/// sequence will write and when its tokens have been computed.
/// </summary>
/// <remarks>
/// Waste is bounded by construction: a table only ever holds the blocks needed for the tokens
/// written so far or being written by the step in flight, ceil(tokens / BlockSize), so at most its
/// last block is partly empty.
/// </remarks>
public sealed class KvCacheManager
{
    private readonly KvBlockPool _pool;
    private readonly int _blockSize;
    // Scratch for the blocks of a prefix hit between lookup and acquisition (sized once).
    private readonly int[] _hitBlocks;
    private readonly long[] _hitHashes;

    public KvCacheManager(KvBlockPool pool, int maxBlocksPerSequence, bool enablePrefixCaching)
    {
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBlocksPerSequence, 1);
        _pool = pool;
        _blockSize = pool.BlockSize;
        MaxBlocksPerSequence = maxBlocksPerSequence;
        PrefixCachingEnabled = enablePrefixCaching;
        _hitBlocks = new int[maxBlocksPerSequence];
        _hitHashes = new long[maxBlocksPerSequence];
    }

    public KvBlockPool Pool => _pool;
    public int BlockSize => _blockSize;
    public int MaxBlocksPerSequence { get; }
    public bool PrefixCachingEnabled { get; }

    /// <summary>A new, empty table wide enough for the longest sequence (allocates; pool tables with their sequences).</summary>
    public KvBlockTable CreateTable() => new(MaxBlocksPerSequence);

    /// <summary>Blocks needed to hold <paramref name="tokens"/> tokens.</summary>
    public int BlocksFor(int tokens) => (tokens + _blockSize - 1) / _blockSize;

    /// <summary>
    /// Number of leading tokens of <paramref name="tokens"/> whose KV is already cached in full blocks.
    /// Never all of them: the last token is always left to compute, because its logits are what the
    /// next token is sampled from. Pure lookup: nothing is reserved until an allocation takes the hit.
    /// </summary>
    public int FindCachedPrefix(ReadOnlySpan<int> tokens) => LookUpPrefix(tokens, int.MaxValue) * _blockSize;

    /// <summary>
    /// Content hashes of the first <paramref name="blocks"/> blocks the last <see cref="FindCachedPrefix"/> found
    /// (valid until the next lookup or allocation): what another pool caches the same prefix under.
    /// </summary>
    public ReadOnlySpan<long> FoundPrefixHashes(int blocks) => _hitHashes.AsSpan(0, blocks);

    /// <summary>
    /// Makes room for <paramref name="newTokens"/> tokens written from position <paramref name="writeStart"/>
    /// on: appends fresh blocks and, where a block to be written is shared with another sequence,
    /// replaces it with a private copy and records (shared → copy) in <paramref name="copies"/> for the
    /// device. All or nothing: when the pool cannot supply every block, nothing changes and it returns false.
    /// </summary>
    public bool TryAllocateSlots(KvBlockTable table, int writeStart, int newTokens, ReusableList<BlockCopy> copies)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(writeStart);
        ArgumentOutOfRangeException.ThrowIfNegative(newTokens);
        if (newTokens == 0) return true;
        int needed = CheckedBlocksFor(writeStart + newTokens);
        int fresh = Math.Max(0, needed - table.Count);

        // Blocks already in the table that this write touches; any still shared must be copied first.
        // In practice only a partly filled last block can be shared (after a fork): full blocks are never written again.
        int firstWritten = writeStart / _blockSize;
        int lastExisting = Math.Min(table.Count, needed) - 1;
        int shared = 0;
        for (int i = firstWritten; i <= lastExisting; i++)
        {
            if (_pool.RefCount(table[i]) <= 1) continue;
            if (i < table.HashedCount)
                throw new InvalidOperationException($"block {table[i]} at index {i} is full and cached; it must never be written again");
            shared++;
        }

        if (fresh + shared > _pool.FreeCount) return false;

        for (int i = firstWritten; i <= lastExisting && shared > 0; i++)
        {
            int source = table[i];
            if (_pool.RefCount(source) <= 1) continue;
            int copy = _pool.TryAllocate();
            copies.Add(new BlockCopy(source, copy));
            _pool.Free(source); // drops only this sequence's reference; the other owners keep it
            table.Replace(i, copy);
            shared--;
        }
        for (int i = 0; i < fresh; i++) table.Append(_pool.TryAllocate());
        return true;
    }

    /// <summary>
    /// First allocation for a sequence with an empty table: takes the cached prefix found by
    /// <see cref="FindCachedPrefix"/> (<paramref name="cachedTokens"/>, a multiple of the block size,
    /// 0 for a miss) and fresh blocks for <paramref name="newTokens"/> tokens after it. All or nothing.
    /// Counts the lookup in the pool's hit/query counters only when it succeeds, so a sequence that has
    /// to wait for blocks is not counted again on every retry.
    /// </summary>
    public bool TryAllocateWithCachedPrefix(KvBlockTable table, ReadOnlySpan<int> tokens, int cachedTokens, int newTokens)
    {
        if (table.Count != 0) throw new InvalidOperationException("a cached prefix can only start an empty block table");
        if (cachedTokens < 0 || cachedTokens % _blockSize != 0 || (cachedTokens > 0 && cachedTokens >= tokens.Length))
            throw new ArgumentOutOfRangeException(nameof(cachedTokens), cachedTokens, "must be a whole number of blocks shorter than the sequence");
        int hits = cachedTokens / _blockSize;
        if (hits > 0 && LookUpPrefix(tokens, hits) != hits)
            throw new InvalidOperationException("the cached prefix changed between FindCachedPrefix and allocation; look it up again right before allocating");

        int needed = CheckedBlocksFor(cachedTokens + newTokens);
        int fresh = needed - hits;
        // Hit blocks that are free leave the free list when taken, so they are not available as fresh blocks.
        int freeHits = 0;
        for (int i = 0; i < hits; i++)
            if (_pool.RefCount(_hitBlocks[i]) == 0) freeHits++;
        if (fresh > _pool.FreeCount - freeHits) return false;

        // Take the hits before allocating: a fresh allocation could otherwise evict one of them.
        for (int i = 0; i < hits; i++)
        {
            _pool.AddRef(_hitBlocks[i]);
            table.Append(_hitBlocks[i]);
            table.SetHash(i, _hitHashes[i]);
        }
        table.HashedCount = hits;
        for (int i = 0; i < fresh; i++) table.Append(_pool.TryAllocate());
        if (PrefixCachingEnabled) _pool.RecordPrefixLookup(QueryableBlocks(tokens.Length), hits);
        return true;
    }

    /// <summary>
    /// Registers the blocks that the first <paramref name="computedTokens"/> tokens fill completely in
    /// the prefix cache. Call after a step's results are applied, never before: a block is only worth
    /// sharing once its KV has really been written.
    /// </summary>
    public void CacheFullBlocks(KvBlockTable table, ReadOnlySpan<int> tokens, int computedTokens)
    {
        if (!PrefixCachingEnabled) return;
        int full = Math.Min(computedTokens / _blockSize, table.Count);
        for (int i = table.HashedCount; i < full; i++)
        {
            long parent = i == 0 ? BlockHasher.Root : table.HashAt(i - 1);
            long hash = BlockHasher.Hash(parent, tokens.Slice(i * _blockSize, _blockSize));
            table.SetHash(i, hash);
            _pool.TryCache(table[i], hash); // false: identical content is already cached in another block; fine
            table.HashedCount = i + 1;
        }
    }

    /// <summary>
    /// Gives <paramref name="child"/> (empty) the same blocks as <paramref name="parent"/>, shared by
    /// reference count: the basis of parallel sampling and beam search. The first of the two to write
    /// into a shared, partly filled block gets a private copy (<see cref="TryAllocateSlots"/>).
    /// </summary>
    public void Fork(KvBlockTable parent, KvBlockTable child)
    {
        if (child.Count != 0) throw new InvalidOperationException("a fork needs an empty child table");
        for (int i = 0; i < parent.Count; i++)
        {
            _pool.AddRef(parent[i]);
            child.Append(parent[i]);
        }
        for (int i = 0; i < parent.HashedCount; i++) child.SetHash(i, parent.HashAt(i));
        child.HashedCount = parent.HashedCount;
    }

    /// <summary>
    /// Releases every block of the table, last block first: freed cached blocks join the free list's
    /// tail in that order, so a sequence's tail (the part least likely to be shared) is evicted before
    /// its prefix.
    /// </summary>
    public void Free(KvBlockTable table)
    {
        for (int i = table.Count - 1; i >= 0; i--) _pool.Free(table[i]);
        table.Clear();
    }

    /// <summary>
    /// Moves a sequence's KV to host blocks: allocates one host block per device block in
    /// <paramref name="hostTable"/>, records (device → host) copies, then frees the device blocks.
    /// Returns false, changing nothing, when the host pool is too small.
    /// </summary>
    public bool TrySwapOut(KvBlockTable deviceTable, KvBlockTable hostTable, KvBlockPool hostPool, ReusableList<BlockCopy> swapOut)
    {
        if (hostTable.Count != 0) throw new InvalidOperationException("the sequence is already swapped out");
        if (deviceTable.Count > hostPool.FreeCount) return false;
        for (int i = 0; i < deviceTable.Count; i++)
        {
            int host = hostPool.TryAllocate();
            hostTable.Append(host);
            swapOut.Add(new BlockCopy(deviceTable[i], host));
        }
        Free(deviceTable);
        return true;
    }

    /// <summary>
    /// Brings a swapped-out sequence back: allocates device blocks for <paramref name="tokensAfterStep"/>
    /// tokens, records (host → device) copies for the blocks that hold its KV and frees the host blocks.
    /// The restored blocks are re-registered in the prefix cache by the next <see cref="CacheFullBlocks"/>.
    /// All or nothing.
    /// </summary>
    public bool TrySwapIn(KvBlockTable deviceTable, KvBlockTable hostTable, KvBlockPool hostPool, int tokensAfterStep, ReusableList<BlockCopy> swapIn)
    {
        if (deviceTable.Count != 0) throw new InvalidOperationException("a sequence being swapped in must hold no device blocks");
        int needed = Math.Max(CheckedBlocksFor(tokensAfterStep), hostTable.Count);
        if (needed > _pool.FreeCount) return false;
        for (int i = 0; i < needed; i++)
        {
            int device = _pool.TryAllocate();
            deviceTable.Append(device);
            if (i < hostTable.Count) swapIn.Add(new BlockCopy(hostTable[i], device));
        }
        for (int i = hostTable.Count - 1; i >= 0; i--) hostPool.Free(hostTable[i]);
        hostTable.Clear();
        return true;
    }

    /// <summary>Full blocks a lookup may consider for a sequence of this length (all but the last token).</summary>
    private int QueryableBlocks(int tokens) => tokens <= 0 ? 0 : (tokens - 1) / _blockSize;

    /// <summary>Walks the hash chain; leaves the hit blocks and hashes in the scratch arrays and returns how many hit.</summary>
    private int LookUpPrefix(ReadOnlySpan<int> tokens, int maxBlocks)
    {
        if (!PrefixCachingEnabled) return 0;
        int blocks = Math.Min(Math.Min(QueryableBlocks(tokens.Length), maxBlocks), MaxBlocksPerSequence);
        long parent = BlockHasher.Root;
        for (int i = 0; i < blocks; i++)
        {
            long hash = BlockHasher.Hash(parent, tokens.Slice(i * _blockSize, _blockSize));
            if (!_pool.TryGetCached(hash, out int block)) return i;
            _hitBlocks[i] = block;
            _hitHashes[i] = hash;
            parent = hash;
        }
        return blocks;
    }

    private int CheckedBlocksFor(int tokens)
    {
        int blocks = BlocksFor(tokens);
        if (blocks > MaxBlocksPerSequence)
            throw new InvalidOperationException($"{tokens} tokens need {blocks} blocks, more than the {MaxBlocksPerSequence} a sequence may hold");
        return blocks;
    }
}
