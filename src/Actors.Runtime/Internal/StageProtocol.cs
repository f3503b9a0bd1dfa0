using Akka.Actor;

namespace Actors.Runtime.Internal;

// One step's trip through a replica's pipeline: scheduler → first stage → (transfer actor → next
// stage)* → scheduler. The step's data rides in one pooled StepWork; each hop is one message.

/// <summary>Where each stage of a replica runs and who hears about the result.</summary>
/// <param name="StageActors">The stage actors, in pipeline order (each runs on its device's thread).</param>
/// <param name="Migrations">The runtime's <see cref="MigrationCoordinator"/>, which runs the replica's exports.</param>
internal sealed record PipelineRoute(int Replica, IReadOnlyList<IActorRef> StageActors, IActorRef Scheduler, IActorRef Transfer, IReadOnlyList<string> StageDeviceIds,
    IActorRef Migrations);

/// <summary>Run stage <see cref="Stage"/> of a step; <see cref="Input"/> is null for the first stage.</summary>
internal sealed record RunStage(StepWork Work, int Stage, PipelineRoute Route, HiddenBuffer? Input, Transfer.TransferPath? IncomingPath = null,
    Transfer.ICopyEngine? Engine = null)
    : INoSerializationVerificationNeeded;

/// <summary>Hidden states of a step leaving <see cref="FromStage"/>, for the transfer actor to route.</summary>
internal sealed record StageOutput(StepWork Work, int FromStage, PipelineRoute Route, HiddenBuffer Hidden) : INoSerializationVerificationNeeded;

/// <summary>The last stage finished and sampled; results are in the work item.</summary>
internal sealed record StepCompleted(StepWork Work) : INoSerializationVerificationNeeded;

/// <summary>A stage threw; the step's sequences end with an error, the others carry on.</summary>
internal sealed record StepFailed(StepWork Work, int Stage, string DeviceId, Exception Error) : INoSerializationVerificationNeeded;
