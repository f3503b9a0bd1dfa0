using Actors.Runtime.Collections;
using Actors.Runtime.Kv;
using Xunit;

namespace Actors.Runtime.Tests.Kv;

public class KvCacheManagerTests
{
    private const int BlockSize = 4;

    private static KvCacheManager Manager(int blocks = 16, bool prefixCaching = true) =>
        new(new KvBlockPool(blocks, BlockSize), maxBlocksPerSequence: 8, prefixCaching);

    private static int[] Range(int start, int count) => Enumerable.Range(start, count).ToArray();

    /// <summary>Allocates and "computes" the whole sequence, caching its full blocks as a step's Update would.</summary>
    private static KvBlockTable Compute(KvCacheManager kv, int[] tokens)
    {
        var table = kv.CreateTable();
        int cached = kv.FindCachedPrefix(tokens);
        Assert.True(kv.TryAllocateWithCachedPrefix(table, tokens, cached, tokens.Length - cached));
        kv.CacheFullBlocks(table, tokens, tokens.Length);
        return table;
    }

    [Fact]
    public void Cached_prefix_is_counted_in_whole_blocks()
    {
        var kv = Manager();
        var first = Compute(kv, Range(0, 10)); // blocks [0-3] [4-7] full, [8-9] partial
        Assert.Equal(2, first.HashedCount);
        Assert.Equal(8, kv.FindCachedPrefix(Range(0, 11)));
        Assert.Equal(4, kv.FindCachedPrefix([0, 1, 2, 3, 4, 5, 99, 7, 8]));
        Assert.Equal(0, kv.FindCachedPrefix([9, 1, 2, 3, 4]));
    }

    [Fact]
    public void Cached_prefix_never_covers_the_whole_prompt_so_the_last_token_is_computed_for_logits()
    {
        var kv = Manager();
        Compute(kv, Range(0, 9));
        // An 8-token prompt whose two blocks are both cached: only the first counts.
        Assert.Equal(4, kv.FindCachedPrefix(Range(0, 8)));
        Assert.Equal(0, kv.FindCachedPrefix(Range(0, 4)));
        Assert.Equal(0, kv.FindCachedPrefix(Range(0, 1)));
    }

    [Fact]
    public void Prefix_hit_shares_the_cached_blocks_and_counts_hits_and_queries()
    {
        var kv = Manager();
        var first = Compute(kv, Range(0, 9));
        var second = kv.CreateTable();
        int[] prompt = Range(0, 12);
        int cached = kv.FindCachedPrefix(prompt);
        Assert.Equal(8, cached);
        Assert.True(kv.TryAllocateWithCachedPrefix(second, prompt, cached, prompt.Length - cached));
        Assert.Equal(first[0], second[0]);
        Assert.Equal(first[1], second[1]);
        Assert.NotEqual(first[2], second[2]);
        Assert.Equal(2, kv.Pool.RefCount(first[0]));
        Assert.Equal(2, kv.Pool.Hits);
        Assert.Equal(2 + 2, kv.Pool.Queries); // 9 tokens: 2 queryable blocks; 12 tokens: 2 queryable blocks
        kv.Pool.CheckInvariants();
    }

    [Fact]
    public void Allocation_is_all_or_nothing_when_blocks_run_short()
    {
        var kv = Manager(blocks: 3);
        var table = kv.CreateTable();
        Assert.False(kv.TryAllocateSlots(table, 0, 13, new ReusableList<BlockCopy>()));
        Assert.Equal(0, table.Count);
        Assert.Equal(3, kv.Pool.FreeCount);
        Assert.True(kv.TryAllocateSlots(table, 0, 12, new ReusableList<BlockCopy>()));
        Assert.Equal(3, table.Count);
    }

    [Fact]
    public void Prefix_hit_on_free_cached_blocks_is_not_counted_as_free_capacity()
    {
        var kv = Manager(blocks: 3);
        var first = Compute(kv, Range(0, 9)); // 3 blocks, 2 cached
        kv.Free(first);
        long queriesBefore = kv.Pool.Queries;
        var second = kv.CreateTable();
        int[] prompt = Range(0, 13);
        int cached = kv.FindCachedPrefix(prompt);
        Assert.Equal(8, cached);
        // Needs the 2 cached blocks plus 2 fresh ones, but taking the hits leaves only 1 free.
        Assert.False(kv.TryAllocateWithCachedPrefix(second, prompt, cached, 5));
        Assert.Equal(0, second.Count);
        Assert.Equal(3, kv.Pool.FreeCount);
        Assert.Equal(2, kv.Pool.CachedFreeCount);
        Assert.Equal(queriesBefore, kv.Pool.Queries); // a failed attempt is not counted
        kv.Pool.CheckInvariants();
    }

    [Fact]
    public void Taking_a_hit_happens_before_fresh_allocation_so_it_cannot_evict_its_own_prefix()
    {
        var kv = Manager(blocks: 3);
        var first = Compute(kv, Range(0, 9)); // blocks: 2 cached + 1 partial
        kv.Free(first); // free list head: the uncached partial block, then the cached tail block, then the head block
        var second = kv.CreateTable();
        int[] prompt = Range(0, 12);
        int cached = kv.FindCachedPrefix(prompt);
        Assert.True(kv.TryAllocateWithCachedPrefix(second, prompt, cached, 4));
        Assert.Equal(3, second.Count);
        Assert.True(kv.Pool.IsCached(second[0]) && kv.Pool.IsCached(second[1]));
        Assert.Equal(0, kv.Pool.Evictions);
        kv.Pool.CheckInvariants();
    }

    [Fact]
    public void Freeing_a_sequence_releases_its_tail_first_so_the_tail_is_evicted_before_the_prefix()
    {
        var kv = Manager(blocks: 4);
        var table = Compute(kv, Range(0, 16)); // 4 full blocks, all cached
        int[] blocks = table.Blocks.ToArray();
        kv.Free(table);
        Assert.Equal(new[] { blocks[3], blocks[2], blocks[1], blocks[0] }, kv.Pool.FreeListSnapshot());
        var other = kv.CreateTable();
        Assert.True(kv.TryAllocateSlots(other, 0, 4, new ReusableList<BlockCopy>()));
        Assert.Equal(blocks[3], other[0]);
        Assert.Equal(12, kv.FindCachedPrefix(Range(0, 17))); // the first three blocks survive
    }

    [Fact]
    public void Writing_into_a_block_shared_after_a_fork_copies_it_first()
    {
        var kv = Manager();
        var copies = new ReusableList<BlockCopy>();
        var parent = kv.CreateTable();
        Assert.True(kv.TryAllocateSlots(parent, 0, 6, copies)); // blocks: full [0-3], partial [4-5]
        var child = kv.CreateTable();
        kv.Fork(parent, child);
        int shared = parent[1];
        Assert.Equal(2, kv.Pool.RefCount(shared));

        Assert.True(kv.TryAllocateSlots(child, 6, 1, copies));
        Assert.Equal(new BlockCopy(shared, child[1]), Assert.Single(copies.Span.ToArray()));
        Assert.NotEqual(shared, child[1]);
        Assert.Equal(parent[0], child[0]); // the full block stays shared
        Assert.Equal(1, kv.Pool.RefCount(shared));

        copies.Clear();
        Assert.True(kv.TryAllocateSlots(parent, 6, 1, copies)); // now sole owner: writes in place
        Assert.Empty(copies.Span.ToArray());
        Assert.Equal(shared, parent[1]);
        kv.Pool.CheckInvariants();
    }

    [Fact]
    public void Copy_on_write_counts_the_copy_in_the_all_or_nothing_check()
    {
        var kv = Manager(blocks: 2);
        var copies = new ReusableList<BlockCopy>();
        var parent = kv.CreateTable();
        Assert.True(kv.TryAllocateSlots(parent, 0, 6, copies));
        var child = kv.CreateTable();
        kv.Fork(parent, child);
        Assert.False(kv.TryAllocateSlots(child, 6, 1, copies));
        Assert.Empty(copies.Span.ToArray());
        Assert.Equal(2, kv.Pool.RefCount(parent[1]));
    }

    [Fact]
    public void Waste_is_at_most_one_partly_filled_block_per_sequence()
    {
        var kv = Manager(blocks: 64);
        var copies = new ReusableList<BlockCopy>();
        var random = new Random(7);
        for (int trial = 0; trial < 200; trial++)
        {
            var table = kv.CreateTable();
            int tokens = 0;
            while (tokens < 30)
            {
                int add = random.Next(1, 6);
                if (tokens + add > 32) break;
                Assert.True(kv.TryAllocateSlots(table, tokens, add, copies));
                tokens += add;
                int waste = table.Count * BlockSize - tokens;
                Assert.InRange(waste, 0, BlockSize - 1);
            }
            kv.Free(table);
        }
        Assert.Equal(64, kv.Pool.FreeCount);
    }

    [Fact]
    public void Swap_out_moves_every_block_to_the_host_and_swap_in_brings_them_back_with_room_for_the_next_token()
    {
        var kv = Manager(blocks: 8);
        var host = new KvBlockPool(8, BlockSize);
        var table = Compute(kv, Range(0, 8));
        int[] device = table.Blocks.ToArray();
        var hostTable = kv.CreateTable();
        var outCopies = new ReusableList<BlockCopy>();
        Assert.True(kv.TrySwapOut(table, hostTable, host, outCopies));
        Assert.Equal(0, table.Count);
        Assert.Equal(2, hostTable.Count);
        Assert.Equal(new[] { new BlockCopy(device[0], hostTable[0]), new BlockCopy(device[1], hostTable[1]) }, outCopies.Span.ToArray());
        Assert.Equal(8, kv.Pool.FreeCount);

        int[] hostBlocks = hostTable.Blocks.ToArray();
        var inCopies = new ReusableList<BlockCopy>();
        Assert.True(kv.TrySwapIn(table, hostTable, host, tokensAfterStep: 9, inCopies));
        Assert.Equal(3, table.Count);
        Assert.Equal(new[] { new BlockCopy(hostBlocks[0], table[0]), new BlockCopy(hostBlocks[1], table[1]) }, inCopies.Span.ToArray());
        Assert.Equal(8, host.FreeCount);
        Assert.Equal(0, table.HashedCount); // re-registered by the next CacheFullBlocks
        kv.CacheFullBlocks(table, Range(0, 9), 8);
        Assert.Equal(2, table.HashedCount);
        kv.Pool.CheckInvariants();
        host.CheckInvariants();
    }

    [Fact]
    public void Swap_out_refuses_without_changing_anything_when_the_host_pool_is_too_small()
    {
        var kv = Manager(blocks: 8);
        var host = new KvBlockPool(1, BlockSize);
        var table = Compute(kv, Range(0, 8));
        Assert.False(kv.TrySwapOut(table, kv.CreateTable(), host, new ReusableList<BlockCopy>()));
        Assert.Equal(2, table.Count);
        Assert.Equal(1, host.FreeCount);
    }
}
