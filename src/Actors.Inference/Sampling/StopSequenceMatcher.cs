namespace Actors.Inference.Sampling;

/// <summary>The outcome of feeding one text delta to a <see cref="StopSequenceMatcher"/>.</summary>
/// <param name="Text">Text that is safe to emit now (it can no longer become part of a stop sequence).</param>
/// <param name="Stopped">A stop sequence completed: emit <paramref name="Text"/> and end the sequence.</param>
/// <param name="StopSequence">The stop sequence that completed, when <paramref name="Stopped"/>.</param>
public readonly record struct StopMatch(string Text, bool Stopped, string? StopSequence);

/// <summary>
/// Finds stop strings in streamed text, across token boundaries. Text that might be the start of a
/// stop string is held back until the next delta settles it; when a stop string completes, the text
/// before it is released and everything from its start on is dropped (the stop string is not part of
/// the output, as in the OpenAI API). When several complete in the same delta, the one that ends
/// first wins (ties: the one that starts first), as if the text had arrived one character at a time.
/// One instance per sequence; not thread-safe.
/// </summary>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private readonly int _longest;
    private string _pending = "";

    public StopSequenceMatcher(IEnumerable<string> stopSequences)
    {
        ArgumentNullException.ThrowIfNull(stopSequences);
        _stops = stopSequences.ToArray();
        for (int i = 0; i < _stops.Length; i++)
            if (string.IsNullOrEmpty(_stops[i]))
                throw new ArgumentException($"stop sequence {i} is empty", nameof(stopSequences));
        _longest = _stops.Length == 0 ? 0 : _stops.Max(s => s.Length);
    }

    /// <summary>True once a stop sequence has completed; further deltas are refused.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Characters held back because they may begin a stop sequence.</summary>
    public int HeldBackLength => _pending.Length;

    /// <summary>Feeds the next text delta.</summary>
    public StopMatch Append(string delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        if (Stopped) throw new InvalidOperationException("a stop sequence has already completed");
        if (_stops.Length == 0) return new StopMatch(delta, false, null);
        if (delta.Length == 0) return new StopMatch("", false, null);

        string text = _pending + delta;
        // Only occurrences that end inside the new delta are new: the held text has none.
        int bestEnd = int.MaxValue, bestStart = int.MaxValue;
        string? best = null;
        int searchFrom = Math.Max(0, _pending.Length - _longest + 1);
        foreach (var stop in _stops)
        {
            int at = text.IndexOf(stop, searchFrom, StringComparison.Ordinal);
            if (at < 0) continue;
            int end = at + stop.Length;
            if (end < bestEnd || (end == bestEnd && at < bestStart)) { bestEnd = end; bestStart = at; best = stop; }
        }
        if (best != null)
        {
            Stopped = true;
            _pending = "";
            return new StopMatch(text[..bestStart], true, best);
        }

        int hold = LongestStopPrefixSuffix(text);
        _pending = text[^hold..];
        return new StopMatch(text[..^hold], false, null);
    }

    /// <summary>The end of the stream without a stop: releases what was held back.</summary>
    public string Flush()
    {
        string rest = _pending;
        _pending = "";
        return rest;
    }

    /// <summary>The length of the longest suffix of <paramref name="text"/> that is a proper prefix of a stop sequence.</summary>
    private int LongestStopPrefixSuffix(string text)
    {
        int best = 0;
        foreach (var stop in _stops)
        {
            for (int len = Math.Min(stop.Length - 1, text.Length); len > best; len--)
            {
                if (text.AsSpan(text.Length - len).SequenceEqual(stop.AsSpan(0, len)))
                {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }
}
