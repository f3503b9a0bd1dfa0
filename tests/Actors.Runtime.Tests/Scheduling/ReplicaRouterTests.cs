using Actors.Runtime.Scheduling;
using Xunit;

namespace Actors.Runtime.Tests.Scheduling;

public class ReplicaRouterTests
{
    [Fact]
    public void Router_picks_the_replica_with_the_most_free_kv_blocks()
    {
        Assert.Equal(1, ReplicaRouter.Choose([new(10, 0), new(50, 900), new(20, 0)]));
    }

    [Fact]
    public void Router_breaks_equal_free_blocks_by_fewest_queued_tokens()
    {
        Assert.Equal(2, ReplicaRouter.Choose([new(50, 300), new(50, 200), new(50, 100)]));
    }

    [Fact]
    public void Router_breaks_full_ties_by_lowest_index_and_has_no_choice_without_replicas()
    {
        Assert.Equal(0, ReplicaRouter.Choose([new(50, 100), new(50, 100)]));
        Assert.Equal(-1, ReplicaRouter.Choose([]));
    }
}
