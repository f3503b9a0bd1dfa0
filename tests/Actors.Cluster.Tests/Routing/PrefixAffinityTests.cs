using Actors.Cluster.Routing;

namespace Actors.Cluster.Tests.Routing;

public sealed class PrefixAffinityTests
{
    [Fact]
    public void Prompts_with_the_same_first_tokens_share_a_key_and_others_do_not()
    {
        var rng = new Random(5);
        int[] a = Enumerable.Range(0, 40).Select(_ => rng.Next(320)).ToArray();
        int[] b = [.. a[..32], .. Enumerable.Range(0, 20).Select(_ => rng.Next(320))];
        int[] c = (int[])a.Clone();
        c[31] = (c[31] + 1) % 320;
        Assert.Equal(PrefixAffinity.Key(a, 32), PrefixAffinity.Key(b, 32));
        Assert.NotEqual(PrefixAffinity.Key(a, 32), PrefixAffinity.Key(c, 32));
    }

    [Fact]
    public void A_prompt_shorter_than_the_affinity_tokens_or_affinity_off_has_no_key()
    {
        Assert.Null(PrefixAffinity.Key([1, 2, 3], 32));
        Assert.Null(PrefixAffinity.Key(Enumerable.Range(0, 64).ToArray(), 0));
    }

    [Fact]
    public void The_least_recently_used_prefix_is_forgotten_first()
    {
        var map = new PrefixAffinity(2);
        map.Record(1, "a");
        map.Record(2, "b");
        Assert.Equal("a", map.Lookup(1)); // 1 is now the most recent
        map.Record(3, "c");
        Assert.Null(map.Lookup(2));
        Assert.Equal("a", map.Lookup(1));
        Assert.Equal("c", map.Lookup(3));
        map.Record(3, "d");
        Assert.Equal("d", map.Lookup(3));
        Assert.Equal(2, map.Count);
    }
}
