using Actors.Runtime.Protocol;
using Actors.Simulation.Serving;

namespace Actors.Simulation.Tests.Serving;

/// <summary>Closed-loop figures from per-request timings, without running anything.</summary>
public class SteadyStateTests
{
    /// <summary>A request that arrived at 0, was admitted at <paramref name="admit"/> s and produced tokens every <paramref name="gap"/> s after a first token at <paramref name="first"/> s.</summary>
    private static Timings Request(double admit, double first, double gap, int tokens)
        => new(admit * 1000, first * 1000, (first + gap * (tokens - 1)) * 1000, Enumerable.Repeat(gap * 1000, tokens - 1).ToArray());

    [Fact]
    public void One_slot_loop_counts_tokens_between_the_first_and_last_replacement()
    {
        // One sequence in flight: each request is admitted 0.1 s after its predecessor finished, takes
        // 1 s of prefill, then 10 tokens 0.1 s apart: a 2 s cycle.
        var timings = Enumerable.Range(0, 4).Select(i => Request(2.0 * i, 2.0 * i + 1, 0.1, 10)).ToList();
        var figures = SteadyState.Measure(timings, [0, 0, 0, 0], inFlight: 1);
        Assert.Equal(2, figures.WindowStartSeconds, 9);
        Assert.Equal(6, figures.WindowEndSeconds, 9);
        // Requests 1 and 2 fall inside: 20 tokens in 4 s.
        Assert.Equal(20, figures.TokensInWindow);
        Assert.Equal(5, figures.TokensPerSecond, 6);
        // A replacement's TTFT counts from the completion that freed its place: 0.1 s wait + 1 s prefill.
        Assert.All(figures.TtftMs, ms => Assert.Equal(1100, ms, 6));
        Assert.All(figures.ItlMs, ms => Assert.Equal(100, ms, 6));
    }

    [Fact]
    public void Too_short_a_run_falls_back_to_the_whole_run()
    {
        var figures = SteadyState.Measure([Request(0, 1, 0.5, 3)], [0], inFlight: 1);
        Assert.Equal(0, figures.WindowStartSeconds);
        Assert.Equal(2, figures.WindowEndSeconds, 9);
        Assert.Equal(3, figures.TokensInWindow);
        Assert.Empty(figures.TtftMs);
    }

    [Fact]
    public void Mismatched_lists_are_refused()
    {
        Assert.Throws<ArgumentException>(() => SteadyState.Measure([Request(0, 1, 0.5, 3)], [0, 0], 1));
    }
}
