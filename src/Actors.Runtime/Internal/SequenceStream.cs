using System.Text;
using Akka.Actor;
using Actors.Inference.Sampling;
using Actors.Inference.Tokenization;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>
/// One request's output as its scheduler produces it: the incremental detokenizer and stop-string
/// matcher (the text half of the stop decision, see <see cref="StopDecision"/>), the timings on the
/// runtime's clock, and delivery. The scheduler writes each step's tokens straight into the
/// request's sink (a bounded channel, or tells to an actor requester): no actor message per token.
/// When the sink is full the scheduler pauses the sequence and hands the chunk to the request actor,
/// which waits for room and drains (backpressure); chunks keep going through the request actor
/// until it has drained all of them, so their order never changes. Created by the request actor,
/// then touched only on its scheduler's thread; it moves with the sequence when it migrates.
/// </summary>
internal sealed class SequenceStream : ISequenceOutput
{
    private readonly TokenizerStreamDecoder _decoder;
    private readonly StopSequenceMatcher? _stops;
    private readonly StringBuilder _text = new();
    private readonly List<double> _interTokenMs = new();
    private readonly bool _logProbs;
    private int _chunkIndex;
    private double _startedAt = double.NaN, _firstTokenAt = double.NaN, _lastTokenAt = double.NaN;

    public SequenceStream(string requestId, long sequenceId, IResponseSink sink, IActorRef requestActor, Tokenizer tokenizer,
        SamplingOptions sampling, int promptTokens, double arrivalAt, EmbeddingPooling? pooling = null)
    {
        Pooling = pooling;
        RequestId = requestId;
        SequenceId = sequenceId;
        Sink = sink;
        RequestActor = requestActor;
        _decoder = tokenizer.CreateStreamDecoder();
        if (sampling.StopSequences is { Length: > 0 } stops) _stops = new StopSequenceMatcher(stops);
        _logProbs = sampling.LogProbs;
        PromptTokens = promptTokens;
        ArrivalAt = arrivalAt;
    }

    public string RequestId { get; }
    public long SequenceId { get; }
    public IResponseSink Sink { get; }
    public IActorRef RequestActor { get; }
    public int PromptTokens { get; }
    /// <summary>When the request arrived on the runtime's clock (NaN until its scheduler stamps it, on a virtual clock).</summary>
    public double ArrivalAt { get; set; }
    public int CachedTokens { get; private set; }
    /// <summary>Set for an embedding request: it returns no tokens, only <see cref="Embedding"/> in its final message.</summary>
    public EmbeddingPooling? Pooling { get; }
    /// <summary>The pooled embedding, once the last stage has computed it.</summary>
    public float[]? Embedding { get; set; }
    public int CompletionTokens { get; private set; }

    /// <summary>Whether its first step was dispatched (it left the waiting queue at least once).</summary>
    public bool HasStarted => !double.IsNaN(_startedAt);

    /// <summary>Milliseconds since arrival on the runtime's clock.</summary>
    public double WaitedMs(double now) => double.IsNaN(ArrivalAt) ? 0 : (now - ArrivalAt) * 1000;

    /// <summary>Chunks handed to the request actor because the sink was full, and not yet confirmed drained.</summary>
    public int Backlogged { get; private set; }

    /// <summary>The text of the token just appended (up to a stop string), for the next chunk.</summary>
    public bool AppendToken(int token)
    {
        var delta = _decoder.AppendSpan(token);
        if (_stops is null)
        {
            _text.Append(delta);
            return false;
        }
        return _stops.Append(delta, _text, out _);
    }

    /// <summary>The sequence's first step was dispatched; <paramref name="cachedTokens"/> prompt tokens came from the prefix cache.</summary>
    public void Started(int cachedTokens, double now, RuntimeMetrics metrics)
    {
        if (!double.IsNaN(_startedAt)) return; // preempted and rescheduled, or migrated: the first start counts
        _startedAt = now;
        CachedTokens = cachedTokens;
        metrics.QueueTime((now - ArrivalAt) * 1000);
    }

    /// <summary>
    /// Delivers one appended token and the text it completed. Returns false when the sink was full:
    /// the caller pauses the sequence and passes <paramref name="chunk"/> to the request actor.
    /// </summary>
    public bool Deliver(int token, float logProb, ReadOnlySpan<int> topTokens, ReadOnlySpan<float> topLogProbs, double now, RuntimeMetrics metrics, out TokenChunk chunk)
    {
        if (Pooling is not null)
        {
            // An embedding request's one step of output only ends its sequence: nothing to deliver.
            chunk = null!;
            _lastTokenAt = now;
            return true;
        }
        if (CompletionTokens == 0) metrics.TimeToFirstToken((now - ArrivalAt) * 1000);
        else
        {
            double itl = (now - _lastTokenAt) * 1000;
            _interTokenMs.Add(itl);
            metrics.InterTokenLatency(itl);
        }
        if (CompletionTokens == 0) _firstTokenAt = now;
        _lastTokenAt = now;
        CompletionTokens++;
        TokenLogProb[][]? top = null;
        if (topTokens.Length > 0)
        {
            var alternatives = new TokenLogProb[topTokens.Length];
            for (int i = 0; i < alternatives.Length; i++) alternatives[i] = new TokenLogProb(topTokens[i], topLogProbs[i]);
            top = [alternatives];
        }
        chunk = new TokenChunk(RequestId, _chunkIndex++, [token], TakeText(), _logProbs ? [logProb] : null, top);
        return Write(chunk);
    }

    /// <summary>
    /// The sequence ended: the text held back (undecoded bytes, a possible stop-string start) unless a
    /// stop string ended it, as a last chunk (null when there is none), and the final message.
    /// </summary>
    public GenerationCompleted Finish(FinishReason reason, string? error, double now, out TokenChunk? tail)
    {
        tail = null;
        if (reason is FinishReason.Length or FinishReason.Stop && _stops is not { Stopped: true } && Pooling is null)
        {
            string rest = _decoder.Flush();
            if (_stops is null) _text.Append(rest);
            else
            {
                _stops.Append(rest, _text, out _);
                if (!_stops.Stopped) _stops.Flush(_text);
            }
            if (_text.Length > 0) tail = new TokenChunk(RequestId, _chunkIndex++, [], TakeText(), null);
        }
        double ttft = double.IsNaN(_firstTokenAt) ? 0 : (_firstTokenAt - ArrivalAt) * 1000;
        double queued = double.IsNaN(_startedAt) ? 0 : (_startedAt - ArrivalAt) * 1000;
        double end = reason is FinishReason.Stop or FinishReason.Length && !double.IsNaN(_lastTokenAt) ? _lastTokenAt : now;
        return new GenerationCompleted(RequestId, reason,
            new Usage(PromptTokens, CompletionTokens, CachedTokens),
            new Timings(Math.Max(queued, 0), Math.Max(ttft, 0), Math.Max((end - ArrivalAt) * 1000, 0), _interTokenMs.ToArray()),
            error, Embedding);
    }

    /// <summary>Writes into the sink unless chunks are already waiting in the request actor; false: the caller backlogs it.</summary>
    public bool Write(TokenChunk chunk)
    {
        if (Backlogged == 0 && Sink.TryWrite(chunk)) return true;
        Backlogged++;
        return false;
    }

    /// <summary>The request actor drained <paramref name="count"/> backlogged chunks; true when none is left with it.</summary>
    public bool Drained(int count)
    {
        Backlogged = Math.Max(0, Backlogged - count);
        return Backlogged == 0;
    }

    private string TakeText()
    {
        if (_text.Length == 0) return "";
        string s = _text.ToString();
        _text.Clear();
        return s;
    }
}
