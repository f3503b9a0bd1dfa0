using Akka.Actor;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

// The conversation between a request actor and its replica's scheduler. Tokens do not travel here:
// the scheduler writes them into the request's sink (see SequenceStream).

/// <summary>A request actor asks its replica's scheduler to admit a sequence; <c>Request.Output</c> is its <see cref="SequenceStream"/>.</summary>
/// <param name="Group">Set for one of a request's n choices: the scheduler admits the group as one sequence with forks.</param>
internal sealed record EnqueueSequence(SequenceRequest Request, SamplingOptions Sampling, int[] PromptTokens, RequestsInTransit? InTransit = null, ChoiceGroup? Group = null)
    : INoSerializationVerificationNeeded
{
    public SequenceStream Stream => (SequenceStream)Request.Output!;
}

internal sealed record SequenceAdmitted(long SequenceId) : INoSerializationVerificationNeeded;

/// <param name="As">The rejection to report when it is not the admission status's own (an unavailable replica, an admission timeout).</param>
internal sealed record SequenceRejected(long SequenceId, AdmissionStatus Status, string Message, RejectionReason? As = null) : INoSerializationVerificationNeeded;

/// <summary>The request's admission-timeout passed: the scheduler rejects it unless it has started running.</summary>
internal sealed record AdmissionExpired(long SequenceId) : INoSerializationVerificationNeeded;

/// <summary>
/// The sink was full: the scheduler paused the sequence and hands the request actor this chunk to
/// write when there is room (later chunks follow the same way until the actor reports them drained).
/// </summary>
internal sealed record ChunkBacklogged(TokenChunk Chunk) : INoSerializationVerificationNeeded;

/// <summary>The request actor wrote <see cref="Count"/> backlogged chunks; with none left the scheduler resumes the sequence.</summary>
internal sealed record ChunksDrained(long SequenceId, int Count) : INoSerializationVerificationNeeded;

/// <summary>The sequence ended (a stop, max tokens, an abort, an error); its blocks are free. The final message, after every chunk.</summary>
internal sealed record SequenceFinished(long SequenceId, GenerationCompleted Completed) : INoSerializationVerificationNeeded;

/// <summary>Stop a sequence now (cancel, deadline, requester gone); answered with <see cref="SequenceFinished"/>.</summary>
internal sealed record AbortSequence(long SequenceId, AbortReason Reason) : INoSerializationVerificationNeeded;

/// <summary>Sets the pipeline route once the replica's actors exist.</summary>
internal sealed record UseRoute(PipelineRoute Route) : INoSerializationVerificationNeeded;

/// <summary>
/// The n choices of one request (OpenAI's n), started together on one replica: each has its own request
/// actor, stream and sampler; the scheduler waits for all <see cref="Size"/> and admits them as one
/// sequence with forks, so the prompt is computed once (see <see cref="SequenceRequest.Forks"/>).
/// </summary>
/// <param name="Id">The group's id: the sequence id of its first choice.</param>
internal sealed record ChoiceGroup(long Id, int Size);

/// <summary>A choice of a <see cref="ChoiceGroup"/> ended before it was enqueued (rejected at validation): do not wait for it.</summary>
internal sealed record LeaveChoiceGroup(long GroupId, long SequenceId) : INoSerializationVerificationNeeded;
