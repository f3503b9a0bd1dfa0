using System.Diagnostics;
using Akka.Actor;
using Actors.Inference.Sampling;
using Actors.Inference.Tokenization;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using ProtocolFinish = Actors.Runtime.Protocol.FinishReason;
using SchedulerFinish = Actors.Runtime.Scheduling.FinishReason;

namespace Actors.Runtime.Internal;

/// <summary>What every request actor of a runtime shares.</summary>
internal sealed record RequestContext(Tokenizer Tokenizer, int VocabSize, int DefaultMaxTokens, RuntimeMetrics Metrics, bool VirtualClock = false);

/// <summary>
/// One request's lifecycle: validation and tokenization, admission by its replica's scheduler,
/// incremental detokenization, stop tokens and stop sequences, deadline, cancel, watching the
/// requester (its death cancels the request), backpressure towards stream consumers, and the one
/// final message with usage and timings.
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

    private readonly Generate _request;
    private readonly IResponseSink _sink;
    private IActorRef _scheduler;
    private readonly RequestContext _ctx;
    private readonly long _sequenceId;
    private readonly long _arrival;
    private readonly double _arrivalAt;          // virtual clock: when the request arrives (NaN: at admission)
    private double _virtualArrival, _virtualLastToken;
    private readonly Queue<TokenChunk> _pending = new();
    private readonly List<double> _interTokenMs = new();
    private TokenizerStreamDecoder _decoder = null!;
    private StopSequenceMatcher? _stops;
    private HashSet<int>? _stopTokens;
    private int _promptTokens;
    private int _cachedTokens;
    private int _completionTokens;
    private int _chunkIndex;
    private double _queuedMs = -1, _ttftMs = -1;
    private long _lastTokenAt;
    private bool _admitted, _paused, _finished;
    private GenerationCompleted? _completion;

    public ITimerScheduler Timers { get; set; } = null!;

    private RequestsInTransit? _inTransit;

    public RequestActor(Generate request, IResponseSink sink, IActorRef scheduler, RequestContext ctx, long sequenceId, long arrivalTimestamp, double arrivalAt = double.NaN,
        RequestsInTransit? inTransit = null)
    {
        _inTransit = inTransit;
        _arrivalAt = arrivalAt;
        _request = request;
        _sink = sink;
        _scheduler = scheduler;
        _ctx = ctx;
        _sequenceId = sequenceId;
        _arrival = arrivalTimestamp;
    }

    protected override void PreStart()
    {
        if (_sink.Watch is { } requester) Context.Watch(requester);
        int[] prompt;
        SamplingParameters parameters;
        try
        {
            parameters = SequenceSampling.ToParameters(_request.Sampling) with { MaxTokens = _request.MaxTokens ?? _ctx.DefaultMaxTokens };
            parameters.Validate(_ctx.VocabSize);
            prompt = Tokenize();
        }
        catch (ArgumentException ex)
        {
            Reject(RejectionReason.InvalidParameters, ex.Message);
            return;
        }
        _promptTokens = prompt.Length;
        _decoder = _ctx.Tokenizer.CreateStreamDecoder();
        if (_request.Sampling.StopSequences is { Length: > 0 } stops) _stops = new StopSequenceMatcher(stops);
        if (_request.Sampling.StopTokenIds is { Length: > 0 } ids) _stopTokens = new HashSet<int>(ids);

        var sequence = new SequenceRequest(_sequenceId, prompt, parameters.MaxTokens, _request.Priority, Stopwatch.GetElapsedTime(0, _arrival))
        {
            EosTokenId = _ctx.Tokenizer.EosId >= 0 ? _ctx.Tokenizer.EosId : null,
            IgnoreEos = _request.Sampling.IgnoreEos,
        };
        _scheduler.Tell(new EnqueueSequence(sequence, _request.Sampling, prompt, _arrivalAt, _inTransit));
        _inTransit = null; // the scheduler counts its arrival
        if (_request.DeadlineUtc is { } deadline)
        {
            var delay = deadline.ToUniversalTime() - DateTime.UtcNow;
            Timers.StartSingleTimer("deadline", DeadlineReached.Instance, delay > TimeSpan.Zero ? delay : TimeSpan.Zero);
        }
    }

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
            case SequenceAdmitted a:
                _admitted = true;
                _virtualArrival = a.ArrivalAt;
                break;
            case SequenceRejected r:
                Reject(Map(r.Status), r.Message);
                break;
            case SequenceStarted s:
                _cachedTokens = s.CachedTokens;
                _queuedMs = _ctx.VirtualClock ? (s.At - _virtualArrival) * 1000 : Stopwatch.GetElapsedTime(_arrival).TotalMilliseconds;
                _ctx.Metrics.QueueTime(_queuedMs);
                break;
            case SequenceToken t:
                OnToken(t);
                break;
            case SequenceFinished f:
                Finish(f.Reason switch
                {
                    SchedulerFinish.EndOfSequence => ProtocolFinish.Stop,
                    SchedulerFinish.MaxTokens => ProtocolFinish.Length,
                    SchedulerFinish.DeadlineExpired => ProtocolFinish.Deadline,
                    SchedulerFinish.Error => ProtocolFinish.Error,
                    _ => ProtocolFinish.Cancelled,
                }, f.Error);
                break;
            case Cancel:
                Abort(AbortReason.Cancelled, ProtocolFinish.Cancelled);
                break;
            case DeadlineReached:
                Abort(AbortReason.DeadlineExpired, ProtocolFinish.Deadline);
                break;
            case Terminated:
                // The requester is gone: stop generating for nobody and free the blocks.
                _scheduler.Tell(new AbortSequence(_sequenceId, AbortReason.Cancelled));
                _finished = true;
                Context.Stop(Self);
                break;
            case Writable:
                Drain();
                break;
            case SchedulerChanged c:
                _scheduler = c.Scheduler;
                break;
            case Status.Failure:
                // The consumer's channel closed under us: treat as a cancel.
                Abort(AbortReason.Cancelled, ProtocolFinish.Cancelled);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void OnToken(SequenceToken t)
    {
        if (_finished) return;
        long now = Stopwatch.GetTimestamp();
        if (_completionTokens == 0)
        {
            _ttftMs = _ctx.VirtualClock ? (t.At - _virtualArrival) * 1000 : Stopwatch.GetElapsedTime(_arrival, now).TotalMilliseconds;
            _ctx.Metrics.TimeToFirstToken(_ttftMs);
        }
        else
        {
            double itl = _ctx.VirtualClock ? (t.At - _virtualLastToken) * 1000 : Stopwatch.GetElapsedTime(_lastTokenAt, now).TotalMilliseconds;
            _interTokenMs.Add(itl);
            _ctx.Metrics.InterTokenLatency(itl);
        }
        _lastTokenAt = now;
        _virtualLastToken = t.At;
        _completionTokens++;

        if (_stopTokens?.Contains(t.Token) == true)
        {
            Emit(t.Token, "", t.LogProb);
            Abort(AbortReason.Cancelled, ProtocolFinish.Stop);
            return;
        }
        string delta = _decoder.Append(t.Token);
        if (_stops is null)
        {
            Emit(t.Token, delta, t.LogProb);
            return;
        }
        var match = _stops.Append(delta);
        Emit(t.Token, match.Text, t.LogProb);
        if (match.Stopped) Abort(AbortReason.Cancelled, ProtocolFinish.Stop);
    }

    private void Emit(int token, string text, float logProb) =>
        Deliver(new TokenChunk(_request.RequestId, _chunkIndex++, [token], text, _request.Sampling.LogProbs ? [logProb] : null));

    private void Deliver(TokenChunk chunk)
    {
        if (_pending.Count == 0 && _sink.TryWrite(chunk)) return;
        _pending.Enqueue(chunk);
        if (!_paused)
        {
            _paused = true;
            if (!_finished) _scheduler.Tell(new PauseSequence(_sequenceId, true));
            _sink.WaitToWriteAsync().PipeTo(Self, success: () => Writable.Instance);
        }
    }

    private void Drain()
    {
        while (_pending.Count > 0 && _sink.TryWrite(_pending.Peek())) _pending.Dequeue();
        if (_pending.Count > 0)
        {
            _sink.WaitToWriteAsync().PipeTo(Self, success: () => Writable.Instance);
            return;
        }
        _paused = false;
        if (_completion is { } done)
        {
            _sink.Complete(done);
            Context.Stop(Self);
        }
        else if (!_finished) _scheduler.Tell(new PauseSequence(_sequenceId, false));
    }

    private void Abort(AbortReason reason, ProtocolFinish finish)
    {
        if (_finished) return;
        _scheduler.Tell(new AbortSequence(_sequenceId, reason));
        Finish(finish, null);
    }

    private void Finish(ProtocolFinish reason, string? error)
    {
        if (_finished) return;
        _finished = true;
        Timers.CancelAll();
        if (_decoder != null)
        {
            string tail = _decoder.Flush();
            if (_stops is { Stopped: false }) tail = _stops.Append(tail).Text + _stops.Flush();
            if (tail.Length > 0) Deliver(new TokenChunk(_request.RequestId, _chunkIndex++, [], tail, null));
        }
        double total = _ctx.VirtualClock ? (_virtualLastToken - _virtualArrival) * 1000 : Stopwatch.GetElapsedTime(_arrival).TotalMilliseconds;
        _completion = new GenerationCompleted(_request.RequestId, reason,
            new Usage(_promptTokens, _completionTokens, _cachedTokens),
            new Timings(Math.Max(_queuedMs, 0), Math.Max(_ttftMs, 0), total, _interTokenMs.ToArray()),
            error);
        _ctx.Metrics.RequestFinished(reason.ToString());
        if (_pending.Count == 0)
        {
            _sink.Complete(_completion);
            Context.Stop(Self);
        }
    }

    private void Reject(RejectionReason reason, string message)
    {
        _inTransit?.Arrived(); // rejected before it was sent to the scheduler
        _inTransit = null;
        _finished = true;
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
        // Stopped without finishing (e.g. the runtime shuts down): free the blocks.
        if (!_finished && _admitted) _scheduler.Tell(new AbortSequence(_sequenceId, AbortReason.Cancelled));
    }
}
