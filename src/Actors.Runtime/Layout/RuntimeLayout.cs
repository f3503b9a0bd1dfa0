using Actors.Inference.Compute;

namespace Actors.Runtime.Layout;

/// <summary>One pipeline stage of one replica: which device runs which layers.</summary>
public sealed record StagePlacement(int Replica, int Stage, string DeviceId, LayerRange Layers)
{
    public override string ToString() => $"replica {Replica} stage {Stage} on {DeviceId}: {Layers}";
}

/// <summary>Replicas (data parallel) × stages (pipeline parallel), each stage placed on a device.</summary>
public sealed record RuntimeLayout(IReadOnlyList<IReadOnlyList<StagePlacement>> Replicas)
{
    public int ReplicaCount => Replicas.Count;
    public int StagesPerReplica(int replica) => Replicas[replica].Count;
    public IEnumerable<StagePlacement> AllStages => Replicas.SelectMany(r => r);
    public override string ToString() => string.Join("; ", AllStages);
}

/// <summary>What the planner needs to know of a model: bytes per layer and of the embedding and head.</summary>
public sealed record LayerCosts(IReadOnlyList<long> LayerBytes, long EmbeddingBytes, long HeadBytes, long KvBytesPerTokenPerLayer)
{
    public int LayerCount => LayerBytes.Count;
}

/// <summary>A device as the planner sees it.</summary>
public sealed record DeviceCapacity(string Id, long MemoryBytes);
