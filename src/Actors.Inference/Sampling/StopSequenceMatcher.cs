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
    private readonly System.Text.StringBuilder _scratch = new();
    private char[] _text = new char[64]; // held-back characters, then the new delta while matching
    private int _held;

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
    public int HeldBackLength => _held;

    /// <summary>Feeds the next text delta.</summary>
    public StopMatch Append(string delta)
    {
        ArgumentNullException.ThrowIfNull(delta);
        _scratch.Clear();
        bool stopped = Append(delta, _scratch, out string? stop);
        return new StopMatch(_scratch.ToString(), stopped, stop);
    }

    /// <summary>
    /// Feeds the next text delta without allocating: appends the text that is safe to emit now to
    /// <paramref name="emit"/> and returns true when a stop sequence completed (then nothing from its
    /// start on is emitted, and <paramref name="stopSequence"/> names it).
    /// </summary>
    public bool Append(ReadOnlySpan<char> delta, System.Text.StringBuilder emit, out string? stopSequence)
    {
        ArgumentNullException.ThrowIfNull(emit);
        if (Stopped) throw new InvalidOperationException("a stop sequence has already completed");
        stopSequence = null;
        if (_stops.Length == 0)
        {
            emit.Append(delta);
            return false;
        }
        if (delta.IsEmpty) return false;

        int length = _held + delta.Length;
        if (_text.Length < length) Array.Resize(ref _text, Math.Max(length, 2 * _text.Length));
        delta.CopyTo(_text.AsSpan(_held));
        ReadOnlySpan<char> text = _text.AsSpan(0, length);
        // Only occurrences that end inside the new delta are new: the held text has none.
        int bestEnd = int.MaxValue, bestStart = int.MaxValue;
        int searchFrom = Math.Max(0, _held - _longest + 1);
        foreach (var stop in _stops)
        {
            int at = text[searchFrom..].IndexOf(stop.AsSpan(), StringComparison.Ordinal);
            if (at < 0) continue;
            at += searchFrom;
            int end = at + stop.Length;
            if (end < bestEnd || (end == bestEnd && at < bestStart)) { bestEnd = end; bestStart = at; stopSequence = stop; }
        }
        if (stopSequence != null)
        {
            Stopped = true;
            _held = 0;
            emit.Append(text[..bestStart]);
            return true;
        }

        int hold = LongestStopPrefixSuffix(text);
        emit.Append(text[..^hold]);
        text[^hold..].CopyTo(_text);
        _held = hold;
        return false;
    }

    /// <summary>The end of the stream without a stop: releases what was held back.</summary>
    public string Flush()
    {
        string rest = new(_text, 0, _held);
        _held = 0;
        return rest;
    }

    /// <summary>As <see cref="Flush()"/>, appending the held-back text to <paramref name="emit"/>.</summary>
    public void Flush(System.Text.StringBuilder emit)
    {
        emit.Append(_text, 0, _held);
        _held = 0;
    }

    /// <summary>The length of the longest suffix of <paramref name="text"/> that is a proper prefix of a stop sequence.</summary>
    private int LongestStopPrefixSuffix(ReadOnlySpan<char> text)
    {
        int best = 0;
        foreach (var stop in _stops)
        {
            for (int len = Math.Min(stop.Length - 1, text.Length); len > best; len--)
            {
                if (text[(text.Length - len)..].SequenceEqual(stop.AsSpan(0, len)))
                {
                    best = len;
                    break;
                }
            }
        }
        return best;
    }
}
