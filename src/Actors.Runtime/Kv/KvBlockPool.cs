namespace Actors.Runtime.Kv;

/// <summary>
/// A fixed pool of KV blocks for one device or pipeline stage group (block b means block b on every
/// stage). All state lives in arrays indexed by block id, allocated once at construction, so no
/// operation allocates.
/// <list type="bullet">
/// <item>Ref counts: a block is used while its count is above zero; sharing (prefix-cache hits,
/// forks) adds references.</item>
/// <item>Free list: every block with ref count zero sits in one intrusive doubly-linked list, least
/// recently freed at the head. Removal from the middle (a prefix-cache hit on a free block) is O(1).</item>
/// <item>Prefix cache: a full, computed block may carry a content hash (see <see cref="BlockHasher"/>)
/// registered in a hash→block map. A freed hashed block stays in the free list with its hash: a later
/// hit takes it back; a fresh allocation that reaches it at the head evicts it and drops the hash.</item>
/// </list>
/// </summary>
public sealed class KvBlockPool
{
    private readonly int[] _refCount;
    private readonly long[] _hash;
    private readonly bool[] _hasHash;
    // Free list links; index NumBlocks is the sentinel, so head = _next[sentinel], tail = _prev[sentinel].
    private readonly int[] _next;
    private readonly int[] _prev;
    private readonly int _sentinel;
    private readonly Dictionary<long, int> _blockByHash;

    public KvBlockPool(int numBlocks, int blockSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(numBlocks, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(blockSize, 1);
        NumBlocks = numBlocks;
        BlockSize = blockSize;
        _refCount = new int[numBlocks];
        _hash = new long[numBlocks];
        _hasHash = new bool[numBlocks];
        _next = new int[numBlocks + 1];
        _prev = new int[numBlocks + 1];
        _sentinel = numBlocks;
        // Sized for every block being cached at once, so registering never resizes (allocates).
        _blockByHash = new Dictionary<long, int>(numBlocks);
        _next[_sentinel] = _prev[_sentinel] = _sentinel;
        for (int b = 0; b < numBlocks; b++) LinkBefore(b, _sentinel);
        FreeCount = numBlocks;
    }

    public int NumBlocks { get; }
    public int BlockSize { get; }

    /// <summary>Blocks with a ref count above zero.</summary>
    public int UsedCount { get; private set; }
    /// <summary>Blocks in the free list (cached or not).</summary>
    public int FreeCount { get; private set; }
    /// <summary>Free blocks that still carry a prefix-cache hash (reusable on a hit, evictable).</summary>
    public int CachedFreeCount { get; private set; }
    /// <summary>Blocks registered in the prefix cache, used or free.</summary>
    public int CachedCount => _blockByHash.Count;
    /// <summary>Prefix-cache lookups, in blocks (see <see cref="RecordPrefixLookup"/>).</summary>
    public long Queries { get; private set; }
    /// <summary>Prefix-cache lookups that found a block.</summary>
    public long Hits { get; private set; }
    /// <summary>Cached free blocks whose hash was dropped so the block could be handed out fresh.</summary>
    public long Evictions { get; private set; }

    public int RefCount(int block) => _refCount[block];
    public bool IsCached(int block) => _hasHash[block];

    /// <summary>The hash a block is registered under; only meaningful when <see cref="IsCached"/>.</summary>
    public long HashOf(int block) => _hash[block];

    /// <summary>
    /// Takes the least recently freed block, evicting its prefix-cache entry if it has one, and gives
    /// it a ref count of one. Returns -1 when no block is free.
    /// </summary>
    public int TryAllocate()
    {
        int block = _next[_sentinel];
        if (block == _sentinel) return -1;
        Unlink(block);
        FreeCount--;
        if (_hasHash[block])
        {
            _blockByHash.Remove(_hash[block]);
            _hasHash[block] = false;
            CachedFreeCount--;
            Evictions++;
        }
        _refCount[block] = 1;
        UsedCount++;
        return block;
    }

    /// <summary>Fills <paramref name="blocks"/> with fresh blocks, or takes none when too few are free.</summary>
    public bool TryAllocate(Span<int> blocks)
    {
        if (blocks.Length > FreeCount) return false;
        for (int i = 0; i < blocks.Length; i++) blocks[i] = TryAllocate();
        return true;
    }

    /// <summary>
    /// Adds a reference to a block: a used block becomes shared; a free (cached) block leaves the
    /// free list and is used again.
    /// </summary>
    public void AddRef(int block)
    {
        CheckId(block);
        if (_refCount[block] == 0)
        {
            Unlink(block);
            FreeCount--;
            UsedCount++;
            if (_hasHash[block]) CachedFreeCount--;
        }
        _refCount[block]++;
    }

    /// <summary>
    /// Drops a reference. At zero the block joins the free list: a cached block at the tail (most
    /// recently used, so evicted last), an uncached one at the head, because no hit can ever want it
    /// and handing it out first keeps cached blocks alive longer.
    /// </summary>
    public void Free(int block)
    {
        CheckId(block);
        if (_refCount[block] <= 0)
            throw new InvalidOperationException($"KV block {block} is already free: freeing it again would make its ref count negative");
        if (--_refCount[block] > 0) return;
        UsedCount--;
        FreeCount++;
        if (_hasHash[block])
        {
            CachedFreeCount++;
            LinkBefore(block, _sentinel);
        }
        else
        {
            LinkBefore(block, _next[_sentinel]);
        }
    }

    /// <summary>Looks a content hash up in the prefix cache without changing anything.</summary>
    public bool TryGetCached(long hash, out int block) => _blockByHash.TryGetValue(hash, out block);

    /// <summary>
    /// Registers a used, full, computed block under its content hash. Returns false (and leaves the
    /// block uncached) when another block already holds that content: the first copy stays canonical.
    /// </summary>
    public bool TryCache(int block, long hash)
    {
        CheckId(block);
        if (_refCount[block] == 0)
            throw new InvalidOperationException($"KV block {block} is free; only a block in use can be cached");
        if (_hasHash[block])
        {
            if (_hash[block] != hash)
                throw new InvalidOperationException($"KV block {block} is cached as {_hash[block]:X16}, not {hash:X16}");
            return true;
        }
        if (!_blockByHash.TryAdd(hash, block)) return false;
        _hash[block] = hash;
        _hasHash[block] = true;
        return true;
    }

    /// <summary>Counts a prefix-cache lookup of <paramref name="queriedBlocks"/> blocks of which <paramref name="hitBlocks"/> hit.</summary>
    public void RecordPrefixLookup(int queriedBlocks, int hitBlocks)
    {
        Queries += queriedBlocks;
        Hits += hitBlocks;
    }

    /// <summary>Free block ids from least to most recently freed (for tests and diagnostics; allocates).</summary>
    public int[] FreeListSnapshot()
    {
        var ids = new int[FreeCount];
        int i = 0;
        for (int b = _next[_sentinel]; b != _sentinel && i < ids.Length; b = _next[b]) ids[i++] = b;
        return ids;
    }

    /// <summary>
    /// Verifies the pool's invariants and throws naming the first one broken: the free list holds
    /// exactly the blocks with ref count zero, free + used = total, the cached-free count matches and
    /// the hash map and per-block hashes agree. O(blocks); meant for tests and debug checks.
    /// </summary>
    public void CheckInvariants()
    {
        int listed = 0, cachedFree = 0;
        for (int b = _next[_sentinel], prev = _sentinel; b != _sentinel; prev = b, b = _next[b])
        {
            if (_prev[b] != prev) throw Broken($"free list link broken at block {b}");
            if (_refCount[b] != 0) throw Broken($"block {b} is in the free list with ref count {_refCount[b]}");
            if (_hasHash[b]) cachedFree++;
            if (++listed > NumBlocks) throw Broken("free list has a cycle");
        }
        int used = 0;
        for (int b = 0; b < NumBlocks; b++)
        {
            if (_refCount[b] < 0) throw Broken($"block {b} has negative ref count {_refCount[b]}");
            if (_refCount[b] > 0) used++;
            if (_hasHash[b] && (!_blockByHash.TryGetValue(_hash[b], out int mapped) || mapped != b))
                throw Broken($"block {b} carries hash {_hash[b]:X16} but the hash map does not point back to it");
        }
        foreach (var (hash, block) in _blockByHash)
            if (!_hasHash[block] || _hash[block] != hash)
                throw Broken($"hash {hash:X16} maps to block {block}, which does not carry it");
        if (listed != FreeCount) throw Broken($"free list holds {listed} blocks but FreeCount is {FreeCount}");
        if (used != UsedCount) throw Broken($"{used} blocks have references but UsedCount is {UsedCount}");
        if (listed + used != NumBlocks) throw Broken($"free {listed} + used {used} != total {NumBlocks}");
        if (cachedFree != CachedFreeCount) throw Broken($"{cachedFree} free blocks are cached but CachedFreeCount is {CachedFreeCount}");
    }

    private static InvalidOperationException Broken(string what) => new($"KV block pool invariant broken: {what}");

    private void CheckId(int block)
    {
        if ((uint)block >= (uint)NumBlocks)
            throw new ArgumentOutOfRangeException(nameof(block), block, $"KV block id outside the pool of {NumBlocks}");
    }

    private void LinkBefore(int block, int successor)
    {
        int predecessor = _prev[successor];
        _next[predecessor] = block;
        _prev[block] = predecessor;
        _next[block] = successor;
        _prev[successor] = block;
    }

    private void Unlink(int block)
    {
        _next[_prev[block]] = _next[block];
        _prev[_next[block]] = _prev[block];
    }
}
