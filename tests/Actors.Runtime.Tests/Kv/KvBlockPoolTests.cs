using Actors.Runtime.Kv;
using Xunit;

namespace Actors.Runtime.Tests.Kv;

public class KvBlockPoolTests
{
    [Fact]
    public void Pool_hands_out_every_block_once_then_reports_none_free()
    {
        var pool = new KvBlockPool(numBlocks: 4, blockSize: 16);
        var ids = new HashSet<int>();
        for (int i = 0; i < 4; i++) Assert.True(ids.Add(pool.TryAllocate()));
        Assert.Equal(-1, pool.TryAllocate());
        Assert.Equal(4, pool.UsedCount);
        Assert.Equal(0, pool.FreeCount);
        pool.CheckInvariants();
    }

    [Fact]
    public void Allocating_several_blocks_is_all_or_nothing()
    {
        var pool = new KvBlockPool(4, 16);
        Span<int> three = stackalloc int[3];
        Assert.True(pool.TryAllocate(three));
        Span<int> two = stackalloc int[2];
        Assert.False(pool.TryAllocate(two));
        Assert.Equal(1, pool.FreeCount);
        pool.CheckInvariants();
    }

    [Fact]
    public void Freeing_a_free_block_throws_naming_the_block_and_leaves_the_count_at_zero()
    {
        var pool = new KvBlockPool(4, 16);
        int block = pool.TryAllocate();
        pool.Free(block);
        var error = Assert.Throws<InvalidOperationException>(() => pool.Free(block));
        Assert.Contains($"KV block {block}", error.Message);
        Assert.Contains("negative", error.Message);
        Assert.Equal(0, pool.RefCount(block));
        pool.CheckInvariants();
    }

    [Fact]
    public void Shared_block_returns_to_the_free_list_only_when_its_last_reference_goes()
    {
        var pool = new KvBlockPool(2, 16);
        int block = pool.TryAllocate();
        pool.AddRef(block);
        pool.Free(block);
        Assert.Equal(1, pool.RefCount(block));
        Assert.Equal(1, pool.FreeCount);
        pool.Free(block);
        Assert.Equal(2, pool.FreeCount);
        pool.CheckInvariants();
    }

    [Fact]
    public void Freed_cached_block_keeps_its_hash_and_a_hit_takes_it_back_out_of_the_middle_of_the_free_list()
    {
        var pool = new KvBlockPool(4, 16);
        int a = pool.TryAllocate(), b = pool.TryAllocate(), c = pool.TryAllocate();
        Assert.True(pool.TryCache(a, 101));
        Assert.True(pool.TryCache(b, 202));
        Assert.True(pool.TryCache(c, 303));
        pool.Free(a);
        pool.Free(b);
        pool.Free(c);
        Assert.Equal(3, pool.CachedFreeCount);

        Assert.True(pool.TryGetCached(202, out int hit));
        Assert.Equal(b, hit);
        pool.AddRef(hit); // b sits between a and c in the free list
        Assert.Equal(1, pool.RefCount(b));
        Assert.Equal(2, pool.CachedFreeCount);
        Assert.DoesNotContain(b, pool.FreeListSnapshot());
        pool.CheckInvariants();
    }

    [Fact]
    public void Fresh_allocations_take_uncached_blocks_first_then_evict_cached_ones_least_recently_freed_first()
    {
        var pool = new KvBlockPool(4, 16);
        int[] blocks = [pool.TryAllocate(), pool.TryAllocate(), pool.TryAllocate(), pool.TryAllocate()];
        pool.TryCache(blocks[0], 10);
        pool.TryCache(blocks[1], 11);
        pool.TryCache(blocks[2], 12);
        // Freed in this order: cached 1, uncached 3, cached 0, cached 2.
        pool.Free(blocks[1]);
        pool.Free(blocks[3]);
        pool.Free(blocks[0]);
        pool.Free(blocks[2]);

        Assert.Equal(blocks[3], pool.TryAllocate()); // no hash: nobody can want it
        Assert.Equal(0, pool.Evictions);
        Assert.Equal(blocks[1], pool.TryAllocate()); // least recently freed cached block
        Assert.Equal(1, pool.Evictions);
        Assert.False(pool.TryGetCached(11, out _));
        Assert.True(pool.TryGetCached(10, out _));
        Assert.Equal(blocks[0], pool.TryAllocate());
        Assert.Equal(blocks[2], pool.TryAllocate());
        Assert.Equal(3, pool.Evictions);
        Assert.Equal(0, pool.CachedCount);
        pool.CheckInvariants();
    }

    [Fact]
    public void Second_block_with_identical_content_stays_uncached_so_the_hash_map_has_one_canonical_block()
    {
        var pool = new KvBlockPool(4, 16);
        int first = pool.TryAllocate(), second = pool.TryAllocate();
        Assert.True(pool.TryCache(first, 7));
        Assert.False(pool.TryCache(second, 7));
        Assert.False(pool.IsCached(second));
        Assert.True(pool.TryGetCached(7, out int canonical));
        Assert.Equal(first, canonical);
        pool.CheckInvariants();
    }

    [Fact]
    public void Only_a_block_in_use_can_be_cached()
    {
        var pool = new KvBlockPool(2, 16);
        Assert.Throws<InvalidOperationException>(() => pool.TryCache(0, 5));
    }

    [Fact]
    public void Prefix_lookup_counters_add_up()
    {
        var pool = new KvBlockPool(2, 16);
        pool.RecordPrefixLookup(queriedBlocks: 4, hitBlocks: 3);
        pool.RecordPrefixLookup(queriedBlocks: 2, hitBlocks: 0);
        Assert.Equal(6, pool.Queries);
        Assert.Equal(3, pool.Hits);
    }

    [Fact]
    public void Block_hash_depends_on_parent_and_tokens_and_is_stable()
    {
        int[] tokens = [1, 2, 3, 4, 5];
        long root = BlockHasher.Root;
        long h = BlockHasher.Hash(root, tokens);
        Assert.Equal(h, BlockHasher.Hash(root, [1, 2, 3, 4, 5]));
        Assert.NotEqual(h, BlockHasher.Hash(root, [1, 2, 3, 4, 6]));
        Assert.NotEqual(h, BlockHasher.Hash(root, [2, 1, 3, 4, 5]));
        Assert.NotEqual(h, BlockHasher.Hash(h, tokens));
        Assert.NotEqual(BlockHasher.Hash(root, [0, 0]), BlockHasher.Hash(root, [0, 0, 0]));
    }
}
