using System.Text;
using Actors.Inference.Sampling;
using Actors.Inference.Tokenization;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Routing;

/// <summary>
/// One client request as the gateway follows it across workers: the prompt as tokens, every token already
/// streamed to the client, and the attempt now running. A lost worker's request resumes elsewhere from
/// prompt + streamed tokens with the remaining budget, so the client's stream goes on with no token twice
/// and none missing: greedy output is the same as without the loss, and so is sampled output, since the
/// next attempt carries the seed (one is picked here when the request has none) and how many of its random
/// draws the streamed tokens used. The text is decoded and matched against stop strings here, over the whole
/// output, so a stop string that straddles the loss still ends the request. Pure state, no actors.
/// </summary>
public sealed class RequestTrack
{
    private readonly List<int> _generated = [];
    private readonly int[] _stopIds;
    private readonly TokenizerStreamDecoder? _decoder;
    private readonly StopSequenceMatcher? _stops;
    private readonly StringBuilder _text = new();

    /// <param name="prompt">The prompt as the worker would tokenize it.</param>
    /// <param name="maxTokens">The request's budget (its own, or the default).</param>
    /// <param name="endOfGeneration">EOS and every end-of-generation id of the vocabulary.</param>
    /// <param name="decoder">
    /// The gateway's own detokenizer, so the text stays exact across a re-admission (a new worker starts
    /// decoding afresh: bytes of a character split over the loss, or a leading space, would differ), and
    /// stop strings are matched over all of it. Null: the workers' text is passed on as it comes (tests).
    /// </param>
    public RequestTrack(Generate original, int[] prompt, int maxTokens, IReadOnlyList<int> endOfGeneration, ulong? prefixKey, long startedAt,
        TokenizerStreamDecoder? decoder = null)
    {
        _decoder = decoder;
        if (decoder is not null && original.Sampling.StopSequences is { Length: > 0 } stops) _stops = new StopSequenceMatcher(stops);
        // Without a seed a re-admission could not continue the same random sequence: fix one now.
        if (original.Sampling is { Seed: null, Temperature: > 0 })
            original = original with { Sampling = original.Sampling with { Seed = (ulong)Random.Shared.NextInt64() } };
        Original = original;
        Prompt = prompt;
        MaxTokens = maxTokens;
        PrefixKey = prefixKey;
        StartedAt = startedAt;
        _stopIds = [.. original.Sampling.StopTokenIds ?? [], .. original.Sampling.IgnoreEos ? [] : endOfGeneration];
    }

    public Generate Original { get; }
    public string Id => Original.RequestId;
    public int[] Prompt { get; }
    public int MaxTokens { get; }
    public ulong? PrefixKey { get; }
    public long StartedAt { get; }
    public IReadOnlyList<int> Generated => _generated;
    /// <summary>Chunks sent to the client so far (the next chunk's index).</summary>
    public int ChunksSent { get; private set; }
    /// <summary>Placements so far; the first is attempt 1.</summary>
    public int Attempts { get; private set; }
    /// <summary>Times the request lost its worker and was placed again.</summary>
    public int Readmissions { get; private set; }
    /// <summary>The id the current attempt runs under on its worker (unique per attempt).</summary>
    public string AttemptId { get; private set; } = "";
    /// <summary>The worker of the current attempt; null while not placed.</summary>
    public string? Worker { get; set; }
    /// <summary>A worker that just refused the request as full: not tried again for the next placement.</summary>
    public string? Avoid { get; set; }
    /// <summary>When its worker was lost (timestamp), until the first token of the re-admission; null otherwise.</summary>
    public long? LostAt { get; set; }
    /// <summary>When it started waiting for a worker (timestamp); null when not waiting.</summary>
    public long? PendingSince { get; set; }
    public bool CancelRequested { get; set; }
    public double? FirstTokenMs { get; private set; }
    /// <summary>A stop string has matched the text: nothing more goes to the client.</summary>
    public bool StoppedByText => _stops is { Stopped: true };

    /// <summary>
    /// The request for the next attempt: the original prompt (as tokens) on the first; after a loss, prompt +
    /// streamed tokens as the prompt and only the remaining tokens as the budget.
    /// </summary>
    public Generate NextAttempt()
    {
        Attempts++;
        AttemptId = Attempts == 1 ? Id : $"{Id}#{Attempts}";
        int[] prompt = _generated.Count == 0 ? Prompt : [.. Prompt, .. _generated];
        return Original with
        {
            RequestId = AttemptId,
            Prompt = null,
            PromptTokens = prompt,
            MaxTokens = MaxTokens - _generated.Count,
            Sampling = Original.Sampling with { RandomDraws = Original.Sampling.RandomDraws + _generated.Count },
        };
    }

    /// <summary>Counts a lost worker; false when the request has been re-admitted <paramref name="max"/> times already.</summary>
    public bool TryReadmit(int max)
    {
        if (Readmissions >= max) return false;
        Readmissions++;
        return true;
    }

    /// <summary>
    /// A worker's chunk of the current attempt, as the client sees it: the client's id, the next index, the
    /// gateway's text. Null when nothing goes to the client: a worker's last chunk without tokens (the text it
    /// held back; <see cref="Tail"/> gives the gateway's own), or anything after a stop string matched.
    /// </summary>
    public TokenChunk? Accept(TokenChunk chunk, double elapsedMs)
    {
        if (StoppedByText) return null;
        if (_decoder is not null && chunk.TokenIds.Length == 0) return null;
        _generated.AddRange(chunk.TokenIds);
        FirstTokenMs ??= elapsedMs;
        string text = chunk.Text;
        if (_decoder is not null)
        {
            _text.Clear();
            foreach (int t in chunk.TokenIds)
            {
                var delta = _decoder.AppendSpan(t);
                if (_stops is null) _text.Append(delta);
                else if (!_stops.Stopped) _stops.Append(delta, _text, out _);
            }
            text = _text.ToString();
        }
        return chunk with { RequestId = Id, Index = ChunksSent++, Text = text };
    }

    /// <summary>
    /// The text still held back when the request ends by length or stop (undecoded bytes, a possible start
    /// of a stop string), as a last chunk, as a single node's stream gives it; null when there is none.
    /// </summary>
    public TokenChunk? Tail(FinishReason reason)
    {
        if (_decoder is null || reason is not (FinishReason.Length or FinishReason.Stop) || StoppedByText) return null;
        _text.Clear();
        string rest = _decoder.Flush();
        if (_stops is null) _text.Append(rest);
        else
        {
            _stops.Append(rest, _text, out _);
            if (!_stops.Stopped) _stops.Flush(_text);
        }
        return _text.Length == 0 ? null : new TokenChunk(Id, ChunksSent++, [], _text.ToString(), null);
    }

    /// <summary>
    /// Whether the streamed tokens already finish the request (its final message was lost with the worker):
    /// the budget is spent, or the last token is a stop or end-of-generation token. Null: it must go on.
    /// </summary>
    public FinishReason? FinishedByTokens()
    {
        if (StoppedByText) return FinishReason.Stop;
        if (_generated.Count >= MaxTokens) return FinishReason.Length;
        if (_generated.Count > 0 && Array.IndexOf(_stopIds, _generated[^1]) >= 0) return FinishReason.Stop;
        return null;
    }

    /// <summary>The client's final message from the worker's: usage over the whole request, gateway timings after a re-admission.</summary>
    public GenerationCompleted Complete(GenerationCompleted worker, double totalMs) => worker with
    {
        RequestId = Id,
        Usage = new Usage(Prompt.Length, _generated.Count, Attempts == 1 ? worker.Usage.CachedPromptTokens : 0),
        Timings = Attempts == 1 ? worker.Timings : worker.Timings with { TimeToFirstTokenMs = FirstTokenMs ?? double.NaN, TotalMs = totalMs },
    };

    /// <summary>A final message made by the gateway (cancelled while unplaced, finished by its tokens, or failed).</summary>
    public GenerationCompleted Finish(FinishReason reason, double totalMs, string? error = null) =>
        new(Id, reason, new Usage(Prompt.Length, _generated.Count, 0),
            new Timings(0, FirstTokenMs ?? double.NaN, totalMs, []), error);

    /// <summary>
    /// The terminal reply when the request cannot go on: a rejection when the client has seen nothing yet,
    /// else a final message with reason Error (after chunks, a rejection would break the protocol).
    /// </summary>
    public object Fail(RejectionReason reason, string message, double totalMs) => ChunksSent == 0
        ? new GenerationRejected(Id, reason, message)
        : Finish(FinishReason.Error, totalMs, message);
}
