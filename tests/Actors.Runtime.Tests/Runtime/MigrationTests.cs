using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Runtime.Protocol;
using Xunit.Abstractions;

namespace Actors.Runtime.Tests.Runtime;

/// <summary>
/// A sequence moved to another replica mid-generation continues exactly where it was: its KV blocks
/// are copied byte for byte through the transfer actor and its sampler (RNG state included) moves too.
/// </summary>
public sealed class MigrationTests(ITestOutputHelper output) : TestKit(output: output)
{
    private const string TwoReplicas = """
        actors-runtime.devices = [ { id = "cpu:0", kind = cpu, threads = 1 }, { id = "cpu:1", kind = cpu, threads = 1 },
                                   { id = "cpu:2", kind = cpu, threads = 1 }, { id = "cpu:3", kind = cpu, threads = 1 } ]
        actors-runtime.layout { replicas = 2, pipeline = 2 }
        """;

    private static Generate Request(string id, bool greedy) => new()
    {
        RequestId = id,
        PromptTokens = Enumerable.Range(0, 40).Select(i => 3 + (i * 29) % 300).ToArray(),
        MaxTokens = 60,
        Sampling = greedy ? SamplingOptions.Greedy with { IgnoreEos = true } : new SamplingOptions { Temperature = 0.9f, TopK = 20, Seed = 1234, IgnoreEos = true },
    };

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_migrated_request_produces_the_tokens_it_would_have_produced_unmoved(bool greedy)
    {
        List<int> expected;
        using (var reference = new RuntimeHarness(RuntimeFixture.Config(TwoReplicas), name: "unmoved"))
            expected = reference.Run(Request("m", greedy), this).Tokens;

        using var h = new RuntimeHarness(RuntimeFixture.Config(TwoReplicas), name: "moved");
        var client = CreateTestProbe(h.System);
        h.Runtime.Router.Tell(Request("m", greedy), client.Ref);
        var tokens = new List<int>();
        for (int i = 0; i < 10; i++) tokens.AddRange(client.ExpectMsg<TokenChunk>(TimeSpan.FromSeconds(30)).TokenIds);

        var admin = CreateTestProbe(h.System);
        h.Runtime.Router.Tell(new MigrateRequest("m", 1), admin.Ref);
        var reply = admin.ExpectMsg<object>(TimeSpan.FromSeconds(30));
        if (reply is MigrationFailed { Reason: var reason } && reason.Contains("already runs"))
        {
            h.Runtime.Router.Tell(new MigrateRequest("m", 0), admin.Ref);
            reply = admin.ExpectMsg<object>(TimeSpan.FromSeconds(30));
        }
        var done = Assert.IsType<MigrationCompleted>(reply);
        Assert.True(done.Bytes > 0 && done.Blocks > 0, $"moved {done.Bytes} bytes in {done.Blocks} blocks");

        var rest = RuntimeHarness.Collect(client, "m");
        tokens.AddRange(rest.Tokens);
        Assert.Equal(FinishReason.Length, rest.Completed!.Reason);
        Assert.Equal(expected, tokens);
        Assert.True(h.Runtime.Transfers.ByKind.Values.Sum(t => t.Bytes) >= done.Bytes, "the transfer actor accounted the migrated bytes");
        h.AwaitAllBlocksFree(this, 0);
        h.AwaitAllBlocksFree(this, 1);
    }

    [Fact]
    public void Migrating_to_a_missing_replica_or_an_unknown_request_fails_with_the_reason()
    {
        using var h = new RuntimeHarness(RuntimeFixture.Config(TwoReplicas), name: "bad-migration");
        h.Runtime.Router.Tell(new MigrateRequest("nobody", 1), TestActor);
        Assert.Contains("not in progress", ExpectMsg<MigrationFailed>().Reason);
        var client = CreateTestProbe(h.System);
        h.Runtime.Router.Tell(Request("x", true), client.Ref);
        client.ExpectMsg<TokenChunk>(TimeSpan.FromSeconds(30));
        h.Runtime.Router.Tell(new MigrateRequest("x", 7), TestActor);
        Assert.Contains("replica 7 does not exist", ExpectMsg<MigrationFailed>().Reason);
    }
}
