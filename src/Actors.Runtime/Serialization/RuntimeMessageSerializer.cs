using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Serialization;
using Actors.Runtime.Protocol;
using MessagePack;

namespace Actors.Runtime.Serialization;

/// <summary>
/// MessagePack serializer of the public messages, bound in reference.conf (identifier 4711).
/// Manifests are short and stable so types can move or be renamed; an unknown manifest is a
/// SerializationException, which remoting treats as transient (rolling upgrades).
/// </summary>
public sealed class RuntimeMessageSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    private static readonly MessagePackSerializerOptions Options =
        MessagePackSerializerOptions.Standard.WithSecurity(MessagePackSecurity.UntrustedData);

    public override int Identifier => 4711;

    /// <summary>
    /// Binds this serializer on a system started without the runtime's reference.conf among its fallbacks
    /// (bindings are read when a system starts, so the runtime's injected defaults come too late for them):
    /// what a stage host and a remote device need before their messages cross Akka.Remote.
    /// </summary>
    public static void EnsureBound(ActorSystem system)
    {
        var serialization = system.Serialization;
        if (serialization.FindSerializerForType(typeof(Remote.DescribeStageHost)) is RuntimeMessageSerializer) return;
        var serializer = new RuntimeMessageSerializer((ExtendedActorSystem)system);
        serialization.AddSerializer("actors-runtime", serializer);
        serialization.AddSerializationMap(typeof(IRuntimeMessage), serializer);
    }

    public override string Manifest(object o) => o switch
    {
        Generate => "gen1",
        Cancel => "can1",
        TokenChunk => "tok1",
        GenerationCompleted => "fin1",
        GenerationRejected => "rej1",
        MigrateRequest => "mig1",
        MigrationCompleted => "mgd1",
        MigrationFailed => "mgf1",
        Remote.DescribeStageHost => "shd1",
        Remote.StageHostInfo => "shi1",
        Remote.EstimateRemoteStage => "sre1",
        Remote.RemoteStageEstimate => "srb1",
        Remote.OpenRemoteStage => "sro1",
        Remote.RemoteStageOpened => "srk1",
        _ => throw new ArgumentException($"{o.GetType()} is not a runtime message", nameof(o)),
    };

    public override byte[] ToBinary(object obj) => obj switch
    {
        Generate m => MessagePackSerializer.Serialize(m, Options),
        Cancel m => MessagePackSerializer.Serialize(m, Options),
        TokenChunk m => MessagePackSerializer.Serialize(m, Options),
        GenerationCompleted m => MessagePackSerializer.Serialize(m, Options),
        GenerationRejected m => MessagePackSerializer.Serialize(m, Options),
        MigrateRequest m => MessagePackSerializer.Serialize(m, Options),
        MigrationCompleted m => MessagePackSerializer.Serialize(m, Options),
        MigrationFailed m => MessagePackSerializer.Serialize(m, Options),
        Remote.DescribeStageHost m => MessagePackSerializer.Serialize(m, Options),
        Remote.StageHostInfo m => MessagePackSerializer.Serialize(m, Options),
        Remote.EstimateRemoteStage m => MessagePackSerializer.Serialize(m, Options),
        Remote.RemoteStageEstimate m => MessagePackSerializer.Serialize(m, Options),
        Remote.OpenRemoteStage m => MessagePackSerializer.Serialize(m, Options),
        Remote.RemoteStageOpened m => MessagePackSerializer.Serialize(m, Options),
        _ => throw new ArgumentException($"{obj.GetType()} is not a runtime message", nameof(obj)),
    };

    public override object FromBinary(byte[] bytes, string manifest) => manifest switch
    {
        "gen1" => MessagePackSerializer.Deserialize<Generate>(bytes, Options),
        "can1" => MessagePackSerializer.Deserialize<Cancel>(bytes, Options),
        "tok1" => MessagePackSerializer.Deserialize<TokenChunk>(bytes, Options),
        "fin1" => MessagePackSerializer.Deserialize<GenerationCompleted>(bytes, Options),
        "rej1" => MessagePackSerializer.Deserialize<GenerationRejected>(bytes, Options),
        "mig1" => MessagePackSerializer.Deserialize<MigrateRequest>(bytes, Options),
        "mgd1" => MessagePackSerializer.Deserialize<MigrationCompleted>(bytes, Options),
        "mgf1" => MessagePackSerializer.Deserialize<MigrationFailed>(bytes, Options),
        "shd1" => MessagePackSerializer.Deserialize<Remote.DescribeStageHost>(bytes, Options),
        "shi1" => MessagePackSerializer.Deserialize<Remote.StageHostInfo>(bytes, Options),
        "sre1" => MessagePackSerializer.Deserialize<Remote.EstimateRemoteStage>(bytes, Options),
        "srb1" => MessagePackSerializer.Deserialize<Remote.RemoteStageEstimate>(bytes, Options),
        "sro1" => MessagePackSerializer.Deserialize<Remote.OpenRemoteStage>(bytes, Options),
        "srk1" => MessagePackSerializer.Deserialize<Remote.RemoteStageOpened>(bytes, Options),
        _ => throw new SerializationException($"unknown manifest '{manifest}' for {nameof(RuntimeMessageSerializer)}"),
    };
}
