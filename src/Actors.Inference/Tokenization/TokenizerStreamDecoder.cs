using System.Text;

namespace Actors.Inference.Tokenization;

/// <summary>
/// Decodes generated tokens one at a time into text deltas. A character whose UTF-8 bytes are split
/// over several tokens (byte-fallback tokens, or byte-level BPE pieces of an emoji) is held back until
/// its last byte arrives; bytes that can no longer form a character come out as U+FFFD. The
/// concatenation of all deltas plus <see cref="Flush"/> equals <see cref="Tokenizer.Decode(ReadOnlySpan{int}, bool, bool)"/>
/// of the same tokens with the same flags. One instance per sequence; not thread-safe.
/// </summary>
public sealed class TokenizerStreamDecoder
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly bool _stripSpacePrefix;
    private readonly Decoder _decoder;
    private char[] _chars = new char[64];
    private bool _sawText;

    internal TokenizerStreamDecoder(Tokenizer tokenizer, bool renderSpecial, bool stripSpacePrefix)
    {
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
        _stripSpacePrefix = stripSpacePrefix && tokenizer.AddSpacePrefix;
        _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();
    }

    /// <summary>Feeds one token; returns the text that is now complete (often the empty string).</summary>
    public string Append(int tokenId) => new(AppendSpan(tokenId));

    /// <summary>As <see cref="Append"/>, without allocating; the span is valid until the next call.</summary>
    public ReadOnlySpan<char> AppendSpan(int tokenId)
    {
        _tokenizer.CheckId(tokenId);
        bool hidden = _tokenizer.IsHiddenUnlessSpecial(tokenId);
        if (hidden && !_renderSpecial) return default;
        ReadOnlySpan<byte> piece = _tokenizer.Piece(tokenId);
        if (_stripSpacePrefix && !hidden && !_sawText && piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
        if (!hidden) _sawText = true;
        return DecodeBytes(piece, flush: false);
    }

    /// <summary>Ends the stream: any held-back bytes come out as U+FFFD.</summary>
    public string Flush() => new(DecodeBytes(default, flush: true));

    /// <summary>Starts a new stream.</summary>
    public void Reset()
    {
        _decoder.Reset();
        _sawText = false;
    }

    private ReadOnlySpan<char> DecodeBytes(ReadOnlySpan<byte> bytes, bool flush)
    {
        int max = bytes.Length + 4; // held-back bytes (at most 3) may come out as one or two chars
        if (_chars.Length < max) _chars = new char[Math.Max(max, _chars.Length * 2)];
        int n = _decoder.GetChars(bytes, _chars, flush);
        return _chars.AsSpan(0, n);
    }
}
