using Actors.Runtime.Protocol;
using MessagePack;

namespace Actors.Runtime.Remote;

// The control conversation between a runtime and a stage host on another node, over Akka.Remote. Only
// these small messages cross Akka.Remote; a stage's steps, activations, logits and KV pages go over the
// stage's own data connection (DataFrames), so bulk bytes never share the node pair's one Akka.Remote
// connection with the cluster's heartbeats and never meet its frame limit.

/// <summary>The model a runtime runs, for a stage host to check that it has the same one.</summary>
[MessagePackObject]
public sealed record ModelIdentity
{
    [Key(0)] public string Architecture { get; init; } = "";
    [Key(1)] public int Layers { get; init; }
    [Key(2)] public int EmbeddingLength { get; init; }
    [Key(3)] public int VocabSize { get; init; }
    /// <summary>Bytes of all tensors: two files with the same shape but other weights or types differ here.</summary>
    [Key(4)] public long WeightBytes { get; init; }

    public static ModelIdentity Of(Inference.Model.LlamaModel model) => new()
    {
        Architecture = model.Config.Architecture,
        Layers = model.Config.BlockCount,
        EmbeddingLength = model.Config.EmbeddingLength,
        VocabSize = model.Config.VocabSize,
        WeightBytes = model.Layers.Sum(l => l.ByteSize) + model.TokenEmbedding.ByteSize + (ReferenceEquals(model.Output, model.TokenEmbedding) ? 0 : model.Output.ByteSize),
    };

    public override string ToString() => $"{Architecture}, {Layers} layers, dim {EmbeddingLength}, vocab {VocabSize}, {WeightBytes} weight bytes";
}

/// <summary>Asks a stage host what device it offers; answered with <see cref="StageHostInfo"/>.</summary>
[MessagePackObject]
public sealed record DescribeStageHost : IRuntimeMessage
{
    [Key(0)] public ModelIdentity Model { get; init; } = new();
}

/// <summary>A stage host's device, and the model check's verdict (<see cref="Problem"/> null when the models match).</summary>
[MessagePackObject]
public sealed record StageHostInfo : IRuntimeMessage
{
    [Key(0)] public string DeviceId { get; init; } = "";
    [Key(1)] public string DeviceName { get; init; } = "";
    [Key(2)] public int Kind { get; init; }
    [Key(3)] public long MemoryBytes { get; init; }
    [Key(4)] public int Threads { get; init; }
    [Key(5)] public bool ReturnsHiddenStates { get; init; }
    [Key(6)] public string? Problem { get; init; }
}

/// <summary>Asks a stage host for the bytes a stage would take on its device; answered with <see cref="RemoteStageEstimate"/>.</summary>
[MessagePackObject]
public sealed record EstimateRemoteStage : IRuntimeMessage
{
    [Key(0)] public int LayerStart { get; init; }
    [Key(1)] public int LayerEnd { get; init; }
    [Key(2)] public int BlockSize { get; init; }
    [Key(3)] public int NumBlocks { get; init; }
    [Key(4)] public int KvType { get; init; }
    [Key(5)] public int MaxBatchTokens { get; init; }
}

[MessagePackObject]
public sealed record RemoteStageEstimate : IRuntimeMessage
{
    [Key(0)] public long Bytes { get; init; }
}

/// <summary>
/// Asks a stage host to prepare a stage: it answers with <see cref="RemoteStageOpened"/>, the data endpoint
/// and a session key; the runtime connects there, presents the key, and the host loads the stage on its
/// device (the load's outcome comes back on that connection).
/// </summary>
[MessagePackObject]
public sealed record OpenRemoteStage : IRuntimeMessage
{
    [Key(0)] public EstimateRemoteStage Stage { get; init; } = new();
    [Key(1)] public ModelIdentity Model { get; init; } = new();
    /// <summary>No stage: a session that only echoes, to measure the data connection (`actors topology`).</summary>
    [Key(2)] public bool ProbeOnly { get; init; }
}

[MessagePackObject]
public sealed record RemoteStageOpened : IRuntimeMessage
{
    [Key(0)] public string Host { get; init; } = "";
    [Key(1)] public int Port { get; init; }
    [Key(2)] public byte[] SessionKey { get; init; } = [];
    /// <summary>Why the host refused (no data endpoint, another model); null when it accepted.</summary>
    [Key(3)] public string? Problem { get; init; }
}
