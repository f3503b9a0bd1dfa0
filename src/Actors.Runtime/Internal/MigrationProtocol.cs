using Akka.Actor;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>The router asks a sequence's scheduler to give it up to another replica.</summary>
internal sealed record ExportSequence(long SequenceId, string RequestId, ReplicaHandle Target, IActorRef ReplyTo, IActorRef Router) : INoSerializationVerificationNeeded;

/// <summary>Everything a migration moves: the sequence, who serves it, where it comes from and goes to.</summary>
internal sealed record MigrationPlan(
    ExportedSequence Sequence,
    (Protocol.SamplingOptions Sampling, int[] Prompt)? Setup,
    IActorRef RequestActor,
    string RequestId,
    PipelineRoute Source,
    IActorRef SourceScheduler,
    ReplicaHandle Target,
    IActorRef ReplyTo,
    IActorRef Router) : INoSerializationVerificationNeeded;

internal sealed record StartMigration(MigrationPlan Plan) : INoSerializationVerificationNeeded;

/// <summary>Migration actor → target scheduler: take this sequence (allocate blocks for its computed KV).</summary>
internal sealed record ImportSequence(ExportedSequence Sequence, IActorRef Migration) : INoSerializationVerificationNeeded;

internal sealed record ImportAllocated(long SequenceId, int[] Blocks, PipelineRoute TargetRoute) : INoSerializationVerificationNeeded;

internal sealed record ImportRefused(long SequenceId, string Reason) : INoSerializationVerificationNeeded;

/// <summary>The KV per stage and the sampler; the target writes them in a step of its own, in step order.</summary>
internal sealed record ImportKvData(
    ExportedSequence Sequence, IReadOnlyList<KvWrite> Writes, SequenceSampling? Sampler, (Protocol.SamplingOptions Sampling, int[] Prompt)? Setup,
    IActorRef RequestActor, IActorRef Migration) : INoSerializationVerificationNeeded;

/// <summary>The target has the KV in place and serves the sequence now.</summary>
internal sealed record ImportDone(long SequenceId) : INoSerializationVerificationNeeded;

/// <summary>The copy is done (or abandoned): the source drops the pins on the exported blocks.</summary>
internal sealed record ExportDone(long SequenceId, int[] Blocks, IActorRef? NewScheduler) : INoSerializationVerificationNeeded;

/// <summary>The target refused: the source takes the sequence back (to be recomputed) with its sampler.</summary>
internal sealed record ReimportSequence(ExportedSequence Sequence, SequenceSampling? Sampler, (Protocol.SamplingOptions Sampling, int[] Prompt)? Setup, IActorRef RequestActor)
    : INoSerializationVerificationNeeded;

/// <summary>Tells a request actor (and the router) which scheduler serves its sequence now.</summary>
internal sealed record SchedulerChanged(IActorRef Scheduler) : INoSerializationVerificationNeeded;

internal sealed record Migrated(string RequestId, int Replica) : INoSerializationVerificationNeeded;

/// <summary>The migration is abandoned before any KV was sent: the target frees what it allocated.</summary>
internal sealed record CancelImport(long SequenceId) : INoSerializationVerificationNeeded;

// Between the migration actor and the source and target stages.

/// <summary>Copy a sequence's KV blocks of one stage out of the stage actor's device (migration source).</summary>
internal sealed record ReadKvBlocks(int Replica, int Stage, int[] Blocks, IActorRef ReplyTo, long CorrelationId) : INoSerializationVerificationNeeded;

internal sealed record KvBlocksRead(long CorrelationId, int Stage, byte[][] Data, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>Write KV blocks into a stage (migration destination).</summary>
internal sealed record WriteKvBlocks(int Replica, int Stage, int[] Blocks, byte[][] Data, IActorRef ReplyTo, long CorrelationId) : INoSerializationVerificationNeeded;

internal sealed record KvBlocksWritten(long CorrelationId, int Stage, double Seconds) : INoSerializationVerificationNeeded;

/// <summary>Hand over a sequence's sampler (migration source); answered with <see cref="SamplerExtracted"/>.</summary>
internal sealed record ExtractSampler(long SequenceId, IActorRef ReplyTo) : INoSerializationVerificationNeeded;

internal sealed record SamplerExtracted(long SequenceId, SequenceSampling? Sampler) : INoSerializationVerificationNeeded;
