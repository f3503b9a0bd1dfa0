using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Actors.Cluster.Protocol;
using MessagePack;

namespace Actors.Cluster.Serialization;

/// <summary>
/// MessagePack serializer of the messages between cluster nodes (identifier 4712, bound in reference.conf);
/// the requests and replies that cross nodes are the runtime's own (RuntimeMessageSerializer, 4711).
/// Short stable manifests; an unknown manifest is a SerializationException.
/// </summary>
public sealed class ClusterMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private static readonly MessagePackSerializerOptions Options =
        MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);

    public override int Identifier => 4712;

    public override string Manifest(object o) => o switch
    {
        WorkerStatus => "wst1",
        GetClusterTopology => "gtp1",
        ClusterTopology => "top1",
        WorkerPing => "png1",
        WorkerPong => "pon1",
        RelayBatch => "rlb1",
        RelayCredit => "rlc1",
        _ => throw new ArgumentException($"{o.GetType()} is not a cluster message", nameof(o)),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        WorkerStatus m => MessagePackSerializer.Serialize(m, Options),
        GetClusterTopology m => MessagePackSerializer.Serialize(m, Options),
        ClusterTopology m => MessagePackSerializer.Serialize(m, Options),
        WorkerPing m => MessagePackSerializer.Serialize(m, Options),
        WorkerPong m => MessagePackSerializer.Serialize(m, Options),
        RelayBatch m => MessagePackSerializer.Serialize(m, Options),
        RelayCredit m => MessagePackSerializer.Serialize(m, Options),
        _ => throw new ArgumentException($"{obj.GetType()} is not a cluster message", nameof(obj)),
    };

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "wst1" => MessagePackSerializer.Deserialize<WorkerStatus>(bytes, Options),
        "gtp1" => GetClusterTopology.Instance,
        "top1" => MessagePackSerializer.Deserialize<ClusterTopology>(bytes, Options),
        "png1" => MessagePackSerializer.Deserialize<WorkerPing>(bytes, Options),
        "pon1" => MessagePackSerializer.Deserialize<WorkerPong>(bytes, Options),
        "rlb1" => MessagePackSerializer.Deserialize<RelayBatch>(bytes, Options),
        "rlc1" => MessagePackSerializer.Deserialize<RelayCredit>(bytes, Options),
        _ => throw new SerializationException($"unknown manifest '{manifest}' for {nameof(ClusterMessageSerializer)}"),
    };
}
