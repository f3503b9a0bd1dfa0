using Actors.Cluster.Routing;

namespace Actors.Cluster.Tests.Routing;

public sealed class WorkerChooserTests
{
    private static WorkerLoad W(string name, int inFlight, int queued = 0, double kv = 0, int maxRunning = 8, int maxWaiting = 8) =>
        new(name, inFlight, queued, maxRunning, maxWaiting, kv);

    [Fact]
    public void The_least_loaded_worker_takes_a_request_without_affinity()
    {
        Assert.Equal(1, WorkerChooser.Choose([W("a", 3), W("b", 1), W("c", 2)], null, 4, 0.95));
    }

    [Fact]
    public void Load_counts_the_larger_of_the_gateway_s_requests_and_the_worker_s_report()
    {
        // b has one request from this gateway but reports 5 queued (other gateways' work).
        Assert.Equal(0, WorkerChooser.Choose([W("a", 2), W("b", 1, queued: 5)], null, 0, 0.95));
    }

    [Fact]
    public void Load_is_relative_to_the_worker_s_running_slots()
    {
        // 3 of 16 slots is less loaded than 2 of 4.
        Assert.Equal(0, WorkerChooser.Choose([W("a", 3, maxRunning: 16), W("b", 2, maxRunning: 4)], null, 0, 0.95));
    }

    [Fact]
    public void The_worker_that_served_a_prefix_keeps_it_within_the_slack()
    {
        Assert.Equal(0, WorkerChooser.Choose([W("a", 4), W("b", 1)], "a", 4, 0.95));
    }

    [Fact]
    public void The_prefix_s_worker_loses_it_beyond_the_slack()
    {
        Assert.Equal(1, WorkerChooser.Choose([W("a", 6), W("b", 1)], "a", 4, 0.95));
    }

    [Fact]
    public void A_full_worker_takes_nothing_while_another_has_room_even_with_affinity()
    {
        Assert.Equal(1, WorkerChooser.Choose([W("a", 1, kv: 0.97), W("b", 5)], "a", 8, 0.95));
        Assert.Equal(1, WorkerChooser.Choose([W("a", 8), W("b", 5)], "a", 8, 0.95)); // a's running slots are all used
    }

    [Fact]
    public void When_every_worker_is_full_the_least_loaded_with_queue_room_takes_it()
    {
        Assert.Equal(1, WorkerChooser.Choose([W("a", 12, kv: 0.99), W("b", 9, kv: 0.99)], null, 0, 0.95));
    }

    [Fact]
    public void No_worker_is_chosen_when_every_queue_is_at_its_limit_or_there_are_none()
    {
        Assert.Equal(-1, WorkerChooser.Choose([W("a", 16), W("b", 3, queued: 16)], null, 0, 0.95));
        Assert.Equal(-1, WorkerChooser.Choose([], "a", 0, 0.95));
    }

    [Fact]
    public void Ties_go_to_fewer_requests_from_this_gateway_then_to_the_name()
    {
        Assert.Equal(0, WorkerChooser.Choose([W("a", 2, queued: 3), W("b", 3)], null, 0, 0.95));
        Assert.Equal(0, WorkerChooser.Choose([W("a", 0), W("b", 0)], null, 0, 0.95));
        Assert.Equal(1, WorkerChooser.Choose([W("b", 0), W("a", 0)], null, 0, 0.95));
    }
}
