using Actors.Inference.Compute;
using Actors.Inference.Model;
using Akka.Actor;

namespace Actors.Runtime.Internal;

/// <summary>Load one stage onto the device; answered with <see cref="StageLoaded"/> or <see cref="StageLoadFailed"/>.</summary>
internal sealed record LoadStage(int Replica, int Stage, LlamaModel Model, LayerRange Layers, KvCacheSpec Kv, int MaxBatchTokens, int SwapSlots)
    : INoSerializationVerificationNeeded;

internal sealed record StageLoaded(int Replica, int Stage, string DeviceId, long KvBlockBytes, IActorRef StageActor) : INoSerializationVerificationNeeded;

internal sealed record StageLoadFailed(int Replica, int Stage, string DeviceId, string Reason) : INoSerializationVerificationNeeded;

/// <summary>Hidden states of a step leaving <see cref="FromStage"/>, for the transfer actor to route.</summary>
internal sealed record StageOutput(StepWork Work, int FromStage, PipelineRoute Route, HiddenBuffer Hidden) : INoSerializationVerificationNeeded;

/// <summary>Copy a sequence's KV blocks of one stage out of the stage actor's device (migration source).</summary>
internal sealed record ReadKvBlocks(int Replica, int Stage, int[] Blocks, IActorRef ReplyTo, long CorrelationId) : INoSerializationVerificationNeeded;

internal sealed record KvBlocksRead(long CorrelationId, int Stage, byte[][] Data, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>Write KV blocks into a stage (migration destination).</summary>
internal sealed record WriteKvBlocks(int Replica, int Stage, int[] Blocks, byte[][] Data, IActorRef ReplyTo, long CorrelationId) : INoSerializationVerificationNeeded;

internal sealed record KvBlocksWritten(long CorrelationId, int Stage, double Seconds) : INoSerializationVerificationNeeded;


/// <summary>A finished copy, reported by the device that did it, for the transfer actor's accounting.</summary>
internal sealed record TransferMeasured(Transfer.TransferPath Path, long Bytes, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>KV blocks a stage swapped to or from host memory; the transfer actor books them on the device's host path.</summary>
internal sealed record HostSwapMeasured(string DeviceId, long Bytes, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>Hand over a sequence's sampler (migration source); answered with <see cref="SamplerExtracted"/>.</summary>
internal sealed record ExtractSampler(long SequenceId, IActorRef ReplyTo) : INoSerializationVerificationNeeded;

internal sealed record SamplerExtracted(long SequenceId, SequenceSampling? Sampler) : INoSerializationVerificationNeeded;
