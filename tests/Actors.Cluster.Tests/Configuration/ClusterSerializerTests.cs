using System.Runtime.Serialization;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Actors.Cluster.Configuration;
using Actors.Cluster.Protocol;
using Actors.Cluster.Serialization;

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
                [new WorkerInfo("akka.tcp://actors@127.0.0.1:2", status, 3, 17, 0.75, 4096)], 2, 40, 123.5, 1, 250.25),
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
