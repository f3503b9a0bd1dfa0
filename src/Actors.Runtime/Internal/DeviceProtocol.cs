using Actors.Inference.Compute;
using Actors.Inference.Model;
using Akka.Actor;

namespace Actors.Runtime.Internal;

/// <summary>Load one stage onto the device; answered with <see cref="StageLoaded"/> or <see cref="StageLoadFailed"/>.</summary>
/// <param name="WarmUp">Run one dummy step through the stage once loaded (kernels compiled before the first request).</param>
/// <param name="Faults">actors-runtime.fault-injection, when it can strike device steps.</param>
/// <param name="TopKSampling">actors-runtime.top-k-sampling: a last stage returns only each row's best tokens when they decide the step.</param>
internal sealed record LoadStage(int Replica, int Stage, LlamaModel Model, LayerRange Layers, KvCacheSpec Kv, int MaxBatchTokens, int SwapSlots, bool WarmUp = false,
    Configuration.FaultInjectionOptions? Faults = null, bool TopKSampling = true)
    : INoSerializationVerificationNeeded;

internal sealed record StageLoaded(int Replica, int Stage, string DeviceId, long KvBlockBytes, IActorRef StageActor) : INoSerializationVerificationNeeded;

internal sealed record StageLoadFailed(int Replica, int Stage, string DeviceId, string Reason) : INoSerializationVerificationNeeded;


/// <summary>A stage hit a sticky fault: the device leaves service, its stages stop (their replicas fail), later loads are refused.</summary>
internal sealed record DeviceFaulted(string DeviceId, string Reason) : INoSerializationVerificationNeeded;
