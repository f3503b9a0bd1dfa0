using Actors.Runtime.Transfer;

namespace Actors.Runtime.Tests.Transfer;

public class VirtualLinkCalendarTests
{
    [Fact]
    public void Copies_in_virtual_order_queue_behind_each_other()
    {
        var link = new VirtualLinkCalendar();
        Assert.Equal(0, link.Reserve(0, 2));
        Assert.Equal(2, link.Reserve(1, 2));
        Assert.Equal(10, link.Reserve(10, 1));
    }

    [Fact]
    public void A_copy_booked_late_in_wall_time_but_early_in_virtual_time_is_not_held_up_by_a_later_one()
    {
        var link = new VirtualLinkCalendar();
        Assert.Equal(100, link.Reserve(100, 1));
        // Arrives second but was ready at 90: the link is free then.
        Assert.Equal(90, link.Reserve(90, 1));
        // Does not fit the gap before 100 (99.5 + 1 > 100): goes after the booking at 100.
        Assert.Equal(101, link.Reserve(99.5, 1));
    }

    [Fact]
    public void A_copy_takes_the_first_gap_long_enough()
    {
        var link = new VirtualLinkCalendar();
        link.Reserve(0, 1);    // [0, 1)
        link.Reserve(1.5, 1);  // [1.5, 2.5)
        link.Reserve(3, 1);    // [3, 4)
        Assert.Equal(1, link.Reserve(0.5, 0.5));   // the gap [1, 1.5) is exactly long enough
        Assert.Equal(4, link.Reserve(0, 0.8));
        Assert.Equal(5, link.Count);
    }

    [Fact]
    public void Bad_times_are_refused()
    {
        var link = new VirtualLinkCalendar();
        Assert.Throws<ArgumentOutOfRangeException>(() => link.Reserve(-1, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => link.Reserve(0, double.NaN));
    }
}
