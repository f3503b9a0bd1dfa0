using Akka.Actor;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>A request actor asks its replica's scheduler to admit a sequence.</summary>
/// <remarks><see cref="ArrivalAt"/>: virtual-clock arrival (NaN: now); the scheduler admits it only once its clock gets there.</remarks>
internal sealed record EnqueueSequence(SequenceRequest Request, SamplingOptions Sampling, int[] PromptTokens, double ArrivalAt = double.NaN, RequestsInTransit? InTransit = null)
    : INoSerializationVerificationNeeded;

internal sealed record SequenceAdmitted(long SequenceId, double ArrivalAt = 0) : INoSerializationVerificationNeeded;

internal sealed record SequenceRejected(long SequenceId, AdmissionStatus Status, string Message) : INoSerializationVerificationNeeded;

/// <summary>First time the sequence is part of a step; <see cref="CachedTokens"/> prompt tokens came from the prefix cache.</summary>
internal sealed record SequenceStarted(long SequenceId, int CachedTokens, double At = 0) : INoSerializationVerificationNeeded;

/// <summary>A token sampled for the sequence (appended by the scheduler policy).</summary>
/// <remarks><see cref="At"/>: virtual-clock time the token's step finished (0 on the real clock).</remarks>
internal sealed record SequenceToken(long SequenceId, int Token, float LogProb, double At = 0) : INoSerializationVerificationNeeded;

/// <summary>The sequence ended in the scheduler (EOS, max tokens, abort, error); its blocks are free.</summary>
internal sealed record SequenceFinished(long SequenceId, Scheduling.FinishReason Reason, string? Error) : INoSerializationVerificationNeeded;

/// <summary>Stop a sequence now (cancel, deadline, stop sequence, requester gone); its blocks are freed.</summary>
internal sealed record AbortSequence(long SequenceId, AbortReason Reason) : INoSerializationVerificationNeeded;

/// <summary>Backpressure: a slow stream consumer pauses its sequence (it keeps its blocks) and resumes it later.</summary>
internal sealed record PauseSequence(long SequenceId, bool Paused) : INoSerializationVerificationNeeded;
