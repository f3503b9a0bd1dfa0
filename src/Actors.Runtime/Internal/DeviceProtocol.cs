using Actors.Inference.Compute;
using Actors.Inference.Model;
using Akka.Actor;

namespace Actors.Runtime.Internal;

/// <summary>Load one stage onto the device; answered with <see cref="StageLoaded"/> or <see cref="StageLoadFailed"/>.</summary>
/// <param name="WarmUp">Run one dummy step through the stage once loaded (kernels compiled before the first request).</param>
internal sealed record LoadStage(int Replica, int Stage, LlamaModel Model, LayerRange Layers, KvCacheSpec Kv, int MaxBatchTokens, int SwapSlots, bool WarmUp = false)
    : INoSerializationVerificationNeeded;

internal sealed record StageLoaded(int Replica, int Stage, string DeviceId, long KvBlockBytes, IActorRef StageActor) : INoSerializationVerificationNeeded;

internal sealed record StageLoadFailed(int Replica, int Stage, string DeviceId, string Reason) : INoSerializationVerificationNeeded;

