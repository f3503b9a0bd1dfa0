using Akka.Actor;
using Actors.Inference.Sampling;
using Actors.Inference.Tokenization;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using Actors.Runtime.Timing;

namespace Actors.Runtime.Internal;

/// <summary>What every request actor of a runtime shares.</summary>
/// <param name="EndOfGeneration">Every end-of-generation token of the vocabulary besides EOS (eot, eom, im_end...).</param>
/// <param name="ArrivalClock">The real clock that stamps arrivals; null on a virtual clock (the scheduler stamps them at admission unless the workload gives them).</param>
/// <param name="AdmissionTimeout">A request not started running within this long is rejected as unavailable (zero: never; real clock only).</param>
/// <param name="MaxPaused">A reader that takes no output for this long is evicted (zero: never).</param>
/// <param name="NoEmbeddings">Why embedding requests are refused (a last stage on a device that returns no hidden states); null: they are served.</param>
internal sealed record RequestContext(Tokenizer Tokenizer, int VocabSize, int DefaultMaxTokens, RuntimeMetrics Metrics, int[] EndOfGeneration, RealClock? ArrivalClock,
    TimeSpan AdmissionTimeout = default, TimeSpan MaxPaused = default, string? NoEmbeddings = null);

/// <summary>
/// One request's lifecycle around its scheduler: validation and tokenization, admission, deadline,
/// cancel, watching the requester (its death cancels the request), and backpressure: chunks the
/// scheduler could not write into a full sink come here and are written as room appears. Tokens,
/// text, stops and timings are the scheduler's (see <see cref="SequenceStream"/>); this actor
/// completes the sink with the scheduler's final message, after every chunk.
/// Every path ends the request with exactly one terminal reply: a rejection, the scheduler's final
/// message, an error when its scheduler dies, or (PostStop) an error when the actor itself is
/// stopped first. A client that cancels or disconnects gets no more chunks, so nothing waits for it
/// to read; a reader paused longer than request.max-paused is evicted.
/// </summary>
internal sealed class RequestActor : UntypedActor, IWithTimers
{
    private sealed record DeadlineReached
    {
        public static readonly DeadlineReached Instance = new();
    }

    private sealed record Writable
    {
        public static readonly Writable Instance = new();
    }

    /// <summary>The scheduler did not confirm an abort in time (e.g. the sequence was between replicas): finish anyway.</summary>
    private sealed record AbortUnconfirmed(FinishReason Reason);

    private sealed record AdmissionTimedOut
    {
        public static readonly AdmissionTimedOut Instance = new();
    }

    private sealed record PausedTooLong
    {
        public static readonly PausedTooLong Instance = new();
    }

    private static readonly TimeSpan AbortConfirmTimeout = TimeSpan.FromSeconds(10);

    private readonly Generate _request;
    private readonly IResponseSink _sink;
    private IActorRef _scheduler;
    private readonly RequestContext _ctx;
    private readonly long _sequenceId;
    private readonly long _arrival;
    private readonly double _arrivalAt;          // on the runtime's clock; NaN: stamped here (real) or at admission (virtual)
    private readonly Queue<TokenChunk> _pending = new();
    private int _drained, _promptTokens;
    private bool _admitted, _waiting, _aborting, _finished;
    /// <summary>The scheduler was asked to run it (from then on, stopping must abort it there).</summary>
    private bool _enqueued;
    /// <summary>The consumer has gone or stopped reading (cancel, disconnect, eviction): chunks not yet written are dropped.</summary>
    private bool _dropBacklog;
    /// <summary>The sink got its terminal reply.</summary>
    private bool _replied;
    private GenerationCompleted? _completion;

    public ITimerScheduler Timers { get; set; } = null!;

    private RequestsInTransit? _inTransit;
    /// <summary>Set when this request is one of n choices admitted together (see <see cref="ChoiceGroup"/>).</summary>
    private readonly ChoiceGroup? _group;

    public RequestActor(Generate request, IResponseSink sink, IActorRef scheduler, RequestContext ctx, long sequenceId, long arrivalTimestamp, double arrivalAt = double.NaN,
        RequestsInTransit? inTransit = null, ChoiceGroup? group = null)
    {
        _group = group;
        _inTransit = inTransit;
        _arrivalAt = ctx.ArrivalClock is { } clock ? clock.At(arrivalTimestamp) : arrivalAt; // a real clock has no arrivals in the future
        _request = request;
        _sink = sink;
        _scheduler = scheduler;
        _ctx = ctx;
        _sequenceId = sequenceId;
        _arrival = arrivalTimestamp;
    }

    protected override void PreStart()
    {
        try
        {
            Start();
        }
        catch (ArgumentException ex)
        {
            Reject(RejectionReason.InvalidParameters, ex.Message);
        }
        catch (Exception ex)
        {
            // Anything else (a null field, a tokenizer bug) still answers the request, and the actor stops cleanly.
            Reject(RejectionReason.InternalError, $"the request could not be started: {ex.GetType().Name}: {ex.Message}");
        }
    }

    private void Start()
    {
        if (_sink.Watch is { } requester) Context.Watch(requester);
        Context.Watch(_scheduler); // a scheduler that dies takes its requests with it: end this one then
        if (_request.Pooling is not null && _ctx.NoEmbeddings is { } why) throw new ArgumentException(why);
        var parameters = _request.Pooling is null
            ? SequenceSampling.ToParameters(_request.Sampling) with { MaxTokens = _request.MaxTokens ?? _ctx.DefaultMaxTokens }
            : SequenceSampling.ToParameters(EmbeddingSampling) with { MaxTokens = 1 };
        parameters.Validate(_ctx.VocabSize);
        int[] prompt = Tokenize();
        _promptTokens = prompt.Length;
        var sampling = _request.Pooling is null ? _request.Sampling : EmbeddingSampling;
        var stream = new SequenceStream(_request.RequestId, _sequenceId, _sink, Self, _ctx.Tokenizer, sampling, prompt.Length, _arrivalAt, _request.Pooling);
        var sequence = new SequenceRequest(_sequenceId, prompt, parameters.MaxTokens, _request.Priority, System.Diagnostics.Stopwatch.GetElapsedTime(0, _arrival))
        {
            EosTokenId = _ctx.Tokenizer.EosId >= 0 ? _ctx.Tokenizer.EosId : null,
            EndOfGenerationIds = _ctx.EndOfGeneration,
            IgnoreEos = sampling.IgnoreEos,
            StopTokenIds = sampling.StopTokenIds ?? [],
            Output = stream,
            SkipPrefixCache = _request.Pooling is not null,
        };
        _scheduler.Tell(new EnqueueSequence(sequence, sampling, prompt, _inTransit, _group));
        _enqueued = true;
        _inTransit = null; // the scheduler counts its arrival
        if (_ctx.AdmissionTimeout > TimeSpan.Zero && _ctx.ArrivalClock is not null)
            Timers.StartSingleTimer("admission", AdmissionTimedOut.Instance, _ctx.AdmissionTimeout);
        if (_request.DeadlineUtc is { } deadline)
        {
            var delay = deadline.ToUniversalTime() - DateTime.UtcNow;
            Timers.StartSingleTimer("deadline", DeadlineReached.Instance, delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
        }
    }

    /// <summary>An embedding request's one step of output: greedy and nothing to report, ended by max tokens 1.</summary>
    private static readonly SamplingOptions EmbeddingSampling = new() { Temperature = 0, IgnoreEos = true };

    private int[] Tokenize()
    {
        bool hasText = _request.Prompt is not null, hasTokens = _request.PromptTokens is not null;
        if (hasText == hasTokens)
            throw new ArgumentException("give exactly one of prompt (text) and prompt tokens");
        int[] tokens = hasText ? _ctx.Tokenizer.Encode(_request.Prompt!, _request.AddBos, _request.ParseSpecialTokens) : _request.PromptTokens!;
        if (tokens.Length == 0) throw new ArgumentException("the prompt is empty");
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)_ctx.VocabSize)
                throw new ArgumentException($"prompt token {tokens[i]} at position {i} is outside the vocabulary 0..{_ctx.VocabSize - 1}");
        return tokens;
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case SequenceAdmitted:
                _admitted = true;
                break;
            case SequenceRejected r:
                Reject(r.As ?? Map(r.Status), r.Message);
                break;
            case ChunkBacklogged b:
                _pending.Enqueue(b.Chunk);
                Drain();
                break;
            case SequenceFinished f:
                Finish(f.Completed);
                break;
            case Cancel:
                _dropBacklog = true;
                if (_finished) CompleteNow(); // finished but still waiting for the reader: it is gone
                else Abort(AbortReason.Cancelled);
                break;
            case AdmissionTimedOut:
                if (!_finished) _scheduler.Tell(new AdmissionExpired(_sequenceId)); // ignored there once it has started
                break;
            case PausedTooLong:
                _dropBacklog = true;
                if (_finished) CompleteNow();
                else Abort(AbortReason.Evicted);
                break;
            case Terminated t when t.ActorRef.Equals(_scheduler):
                Finish(new GenerationCompleted(_request.RequestId, FinishReason.Error, new Usage(_promptTokens, 0, 0), new Timings(0, 0, 0, []),
                    "the replica's scheduler stopped before the request finished"));
                break;
            case DeadlineReached:
                Abort(AbortReason.DeadlineExpired);
                break;
            case Terminated:
                // The requester is gone: stop generating for nobody and free the blocks.
                _scheduler.Tell(new AbortSequence(_sequenceId, AbortReason.Cancelled));
                _finished = _replied = true;
                Context.Stop(Self);
                break;
            case AbortUnconfirmed u:
                Finish(new GenerationCompleted(_request.RequestId, u.Reason, new Usage(_promptTokens, 0, 0), new Timings(0, 0, 0, []),
                    u.Reason == FinishReason.Error ? "the scheduler did not confirm the abort" : null));
                break;
            case Writable:
                _waiting = false;
                Timers.Cancel("paused");
                Drain();
                break;
            case SchedulerChanged c:
                Context.Unwatch(_scheduler);
                _scheduler = c.Scheduler;
                Context.Watch(_scheduler);
                break;
            case Status.Failure:
                // The consumer's channel closed under us: treat as a cancel.
                _waiting = false;
                _dropBacklog = true;
                if (_finished) CompleteNow();
                else Abort(AbortReason.Cancelled);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>Writes backlogged chunks while the sink takes them; then tells the scheduler (it resumes the sequence) or completes.</summary>
    private void Drain()
    {
        if (_waiting) return;
        while (_pending.Count > 0 && _sink.TryWrite(_pending.Peek()))
        {
            _pending.Dequeue();
            _drained++;
        }
        if (_pending.Count > 0)
        {
            _waiting = true;
            _sink.WaitToWriteAsync().PipeTo(Self, success: () => Writable.Instance);
            // A reader that stops reading holds a running slot and KV: bounded by request.max-paused.
            if (_ctx.MaxPaused > TimeSpan.Zero && !Timers.IsTimerActive("paused")) Timers.StartSingleTimer("paused", PausedTooLong.Instance, _ctx.MaxPaused);
            return;
        }
        if (_completion is { } done)
        {
            _replied = true;
            _sink.Complete(done);
            Context.Stop(Self);
            return;
        }
        if (_drained > 0)
        {
            _scheduler.Tell(new ChunksDrained(_sequenceId, _drained));
            _drained = 0;
        }
    }

    /// <summary>Asks the scheduler to end the sequence; its <see cref="SequenceFinished"/> (after any chunk in flight) completes the request.</summary>
    private void Abort(AbortReason reason)
    {
        if (_finished || _aborting) return;
        _aborting = true;
        Timers.Cancel("deadline");
        _scheduler.Tell(new AbortSequence(_sequenceId, reason));
        Timers.StartSingleTimer("abort", new AbortUnconfirmed((FinishReason)reason), AbortConfirmTimeout);
    }

    private void Finish(GenerationCompleted completed)
    {
        if (_finished) return;
        _finished = true;
        Timers.CancelAll();
        if (completed.Reason == FinishReason.Evicted)
            completed = completed with { Error = $"evicted: the reader took no output for {_ctx.MaxPaused.TotalSeconds:0.###} s (actors-runtime.request.max-paused); its slot and KV were freed" };
        _ctx.Metrics.RequestFinished(completed.Reason.ToString());
        _completion = completed;
        if (_dropBacklog) CompleteNow();
        else Drain();
    }

    /// <summary>The consumer is gone or not reading: drop what it has not taken and give the final message now.</summary>
    private void CompleteNow()
    {
        _pending.Clear();
        _waiting = false;
        Drain();
    }

    private void Reject(RejectionReason reason, string message)
    {
        _inTransit?.Arrived(); // rejected before it was sent to the scheduler
        _inTransit = null;
        if (_group is not null && !_enqueued) _scheduler.Tell(new LeaveChoiceGroup(_group.Id, _sequenceId)); // its group must not wait for it
        _finished = _replied = true;
        _ctx.Metrics.RequestRejected(reason.ToString());
        _sink.Reject(new GenerationRejected(_request.RequestId, reason, message));
        Context.Stop(Self);
    }

    private static RejectionReason Map(AdmissionStatus s) => s switch
    {
        AdmissionStatus.QueueFull => RejectionReason.QueueFull,
        AdmissionStatus.PromptTooLong or AdmissionStatus.PromptPlusMaxTokensTooLong => RejectionReason.PromptTooLong,
        AdmissionStatus.PromptExceedsKvPool or AdmissionStatus.SequenceExceedsKvPool => RejectionReason.PromptExceedsKvCache,
        AdmissionStatus.DuplicateId => RejectionReason.DuplicateRequestId,
        _ => RejectionReason.InvalidParameters,
    };

    protected override void PostStop()
    {
        // Stopped without finishing (the runtime shuts down, the actor failed): free the blocks...
        if (!_finished && _enqueued) _scheduler.Tell(new AbortSequence(_sequenceId, AbortReason.Cancelled));
        _inTransit?.Arrived();
        _inTransit = null;
        if (_replied) return;
        _replied = true;
        // ...and still give the request its one terminal reply.
        const string stopped = "the request was stopped before it finished (its request actor failed or the runtime is shutting down)";
        if (_completion is { } done) _sink.Complete(done); // finished; the chunks its reader had not taken are dropped
        else if (!_admitted) _sink.Reject(new GenerationRejected(_request.RequestId, RejectionReason.InternalError, stopped));
        else _sink.Complete(new GenerationCompleted(_request.RequestId, FinishReason.Error, new Usage(_promptTokens, 0, 0), new Timings(0, 0, 0, []), stopped));
    }
}
