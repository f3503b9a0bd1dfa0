using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Cluster.Configuration;
using Actors.Cluster.Protocol;
using Actors.Cluster.Serialization;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Configuration;

/// <summary>Every message between nodes round-trips through the serializer bound in reference.conf.</summary>
public sealed class ClusterSerializerTests() : TestKit(Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.provider = local")
    .WithFallback(ClusterSettings.DefaultConfig()))
{
    public static TheoryData<object> Messages()
    {
        var status = new WorkerStatus("m", 2, 16, 100, 3, 4, 50, 600, "cpu:0,cpu:1");
        return new()
        {
            status,
            GetClusterTopology.Instance,
            new WorkerPing(1234567890123),
            new WorkerPong(-5),
            new ClusterTopology([new NodeInfo("akka.tcp://actors@127.0.0.1:1", ["gateway", "worker"], "up", true)],
                [new WorkerInfo("akka.tcp://actors@127.0.0.1:2", status, 3, 17, 0.75, 4096, 97)], 2, 40, 123.5, 1, 250.25),
            new RelayBatch(
                [new TokenChunk("a#2", 3, [17], "é", [-0.25f], [[new TokenLogProb(17, -0.25f), new TokenLogProb(4, -1.5f)]]), new TokenChunk("b", 0, [], "tail", null)],
                [new GenerationCompleted("c", FinishReason.Length, new Usage(5, 2, 1), new Timings(1, 2, 3, [0.5, 0.75]), null)],
                [new GenerationRejected("d", RejectionReason.QueueFull, "full")], 64),
            new RelayCredit(["a#2", "b"], [32, 7]),
        };
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Cluster_messages_round_trip(object message)
    {
        var s = Assert.IsType<ClusterMessageSerializer>(Sys.Serialization.FindSerializerFor(message));
        var back = s.FromBinary(s.ToBinary(message), s.Manifest(message));
        Assert.Equal(System.Text.Json.JsonSerializer.Serialize(message, message.GetType()), System.Text.Json.JsonSerializer.Serialize(back, back.GetType()));
    }

    [Fact]
    public void An_unknown_manifest_is_a_serialization_exception()
    {
        var s = new ClusterMessageSerializer((ExtendedActorSystem)Sys);
        Assert.Throws<SerializationException>(() => s.FromBinary([], "nope"));
    }
}
