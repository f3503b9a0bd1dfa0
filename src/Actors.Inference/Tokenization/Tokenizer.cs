using System.Buffers;
using System.Text;
using Actors.Inference.Gguf;

namespace Actors.Inference.Tokenization;

/// <summary>
/// Text to token ids and back, built from a GGUF file's tokenizer.ggml.* metadata, giving the same ids
/// as llama.cpp (llama-vocab.cpp, which the tests run through LLamaSharp as the reference).
/// <list type="bullet">
/// <item>"llama" (SentencePiece): a space is put before the text (and after every special token) when
/// <c>add_space_prefix</c> is on, spaces become "▁", then adjacent symbols are merged greedily, the
/// pair whose merged text is the highest-scoring token first (ties: leftmost); leftover symbols fall
/// back to &lt;0xXX&gt; byte tokens.</item>
/// <item>"gpt2" (byte-level BPE): words from the <see cref="PreTokenizerKind"/> rule, UTF-8 bytes
/// mapped to GPT-2's printable alphabet, then merges by rank (lowest first, ties: leftmost).</item>
/// </list>
/// Control and unknown tokens written as text (e.g. "&lt;s&gt;") are matched only with parseSpecial;
/// user-defined tokens always are. Immutable and thread-safe.
/// </summary>
/// <remarks>
/// Microsoft.ML.Tokenizers was considered: its SentencePiece tokenizer needs the protobuf model that
/// GGUF does not carry, and its BPE differs from llama.cpp in the details that decide ids here
/// (llama.cpp's hand-written pre-tokenizer scans, Llama 3's "ignore merges" rule, which symbols fall
/// back to what), so the algorithms are implemented here and tested against llama.cpp itself.
/// </remarks>
public sealed class Tokenizer
{
    private readonly TokenizerVocabulary _vocab;
    private readonly Dictionary<string, int> _tokenIds;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _tokenLookup;
    private readonly Dictionary<string, int>? _mergeRanks; // "left right" -> rank (first occurrence wins)
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _mergeLookup;
    private readonly int[] _specialTokens; // control, user-defined and unknown tokens, longest text first
    private readonly int[] _byteTokens;    // SentencePiece byte fallback: byte -> token, -1 when none
    private readonly byte[][] _pieces;     // the bytes each token decodes to (special tokens: their text)
    private readonly bool[] _endOfGeneration;
    private readonly char[] _byteToChar = ByteLevel.ByteToChar;

    private Tokenizer(TokenizerVocabulary vocab)
    {
        _vocab = vocab;
        int n = vocab.Tokens.Length;
        _tokenIds = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
            if (!_tokenIds.TryAdd(vocab.Tokens[i], i))
                throw new Model.ModelFormatException(
                    $"metadata '{TokenizerVocabulary.TokensKey}': duplicate token \"{vocab.Tokens[i]}\" at ids {_tokenIds[vocab.Tokens[i]]} and {i}");
        _tokenLookup = _tokenIds.GetAlternateLookup<ReadOnlySpan<char>>();

        if (vocab.Kind == TokenizerKind.Gpt2Bpe)
        {
            _mergeRanks = new Dictionary<string, int>(vocab.Merges.Length, StringComparer.Ordinal);
            for (int rank = 0; rank < vocab.Merges.Length; rank++) _mergeRanks.TryAdd(vocab.Merges[rank], rank);
            _mergeLookup = _mergeRanks.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        _specialTokens = Enumerable.Range(0, n)
            .Where(i => vocab.Types[i] is TokenType.Control or TokenType.UserDefined or TokenType.Unknown)
            .OrderByDescending(i => vocab.Tokens[i].Length).ThenBy(i => i)
            .ToArray();

        _byteTokens = new int[256];
        for (int b = 0; b < 256; b++)
        {
            _byteTokens[b] = _tokenIds.TryGetValue($"<0x{b:X2}>", out int id) ? id
                : b < 0x80 && _tokenIds.TryGetValue(((char)b).ToString(), out id) ? id
                : -1;
        }

        _pieces = new byte[n][];
        for (int i = 0; i < n; i++) _pieces[i] = ComputePiece(i);
        _endOfGeneration = new bool[n];
        foreach (int id in vocab.EndOfGeneration) _endOfGeneration[id] = true;
    }

    /// <summary>Builds the tokenizer of a GGUF model; a <see cref="Model.ModelFormatException"/> names any bad key.</summary>
    public static Tokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        return FromMetadata(file.Metadata, Path.GetFileName(file.Path));
    }

    /// <summary>Builds a tokenizer from GGUF-style metadata; <paramref name="source"/> prefixes error messages.</summary>
    public static Tokenizer FromMetadata(IReadOnlyDictionary<string, GgufValue> metadata, string source = "metadata")
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return new Tokenizer(TokenizerVocabulary.Read(metadata, source));
    }

    public TokenizerKind Kind => _vocab.Kind;
    public PreTokenizerKind PreTokenizer => _vocab.Pre;
    public int VocabSize => _vocab.Tokens.Length;
    /// <summary>Beginning-of-sequence token, or -1 when the model has none.</summary>
    public int BosId => _vocab.BosId;
    /// <summary>End-of-sequence token, or -1 when the model has none.</summary>
    public int EosId => _vocab.EosId;
    /// <summary>Unknown token, or -1 when the model has none.</summary>
    public int UnknownId => _vocab.UnknownId;
    /// <summary>tokenizer.ggml.add_bos_token (default: true for SentencePiece and Llama 3 BPE).</summary>
    public bool AddBosToken => _vocab.AddBos;
    /// <summary>tokenizer.ggml.add_eos_token (default false).</summary>
    public bool AddEosToken => _vocab.AddEos;
    /// <summary>tokenizer.ggml.add_space_prefix (default: true for SentencePiece, false for BPE).</summary>
    public bool AddSpacePrefix => _vocab.AddSpacePrefix;

    public TokenType GetTokenType(int id) => _vocab.Types[CheckId(id)];
    public bool IsControl(int id) => _vocab.Types[CheckId(id)] == TokenType.Control;
    /// <summary>EOS, EOT/EOM, and tokens such as "&lt;|eot_id|&gt;" that llama.cpp also treats as end of generation.</summary>
    public bool IsEndOfGeneration(int id) => _endOfGeneration[CheckId(id)];
    /// <summary>
    /// Every token that ends generation, ascending, as llama.cpp determines them: EOS, EOT and EOM when the
    /// file names them, and every token whose text is one of llama.cpp's end-of-turn texts
    /// (&lt;|eot_id|&gt;, &lt;|im_end|&gt;, &lt;end_of_turn&gt;, &lt;|endoftext|&gt;, ...).
    /// </summary>
    public IReadOnlyList<int> EndOfGenerationIds => _vocab.EndOfGeneration;
    /// <summary>The token's text as stored in the vocabulary (with "▁" or GPT-2's byte alphabet).</summary>
    public string TokenText(int id) => _vocab.Tokens[CheckId(id)];
    public float TokenScore(int id) => _vocab.Scores[CheckId(id)];
    /// <summary>The bytes a token decodes to; control and unknown tokens give their text.</summary>
    public ReadOnlySpan<byte> TokenBytes(int id) => _pieces[CheckId(id)];
    /// <summary>The id of the token whose vocabulary text is exactly <paramref name="text"/>.</summary>
    public bool TryGetTokenId(ReadOnlySpan<char> text, out int id) => _tokenLookup.TryGetValue(text, out id);

    /// <summary>True for tokens that decode to nothing unless special tokens are rendered (control, unknown).</summary>
    internal bool IsHiddenUnlessSpecial(int id) => _vocab.Types[id] is TokenType.Control or TokenType.Unknown;

    internal byte[] Piece(int id) => _pieces[id];

    internal int CheckId(int id)
    {
        if ((uint)id >= (uint)_pieces.Length)
            throw new ArgumentOutOfRangeException(nameof(id), id, $"token id {id} is outside the vocabulary (size {_pieces.Length})");
        return id;
    }

    // ---------------------------------------------------------------- encoding

    /// <summary>
    /// Tokenizes <paramref name="text"/>. <paramref name="addBos"/> adds the model's special tokens as
    /// llama.cpp's add_special does: BOS when the model's add_bos_token is set, EOS when add_eos_token is.
    /// <paramref name="parseSpecial"/> turns control-token text such as "&lt;s&gt;" into that token.
    /// </summary>
    public int[] Encode(string text, bool addBos = true, bool parseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 4);
        Encode(text.AsSpan(), output, addBos, parseSpecial);
        return output.ToArray();
    }

    /// <summary>
    /// Tokenizes a rendered chat prompt: control-token text is parsed as tokens except inside
    /// <paramref name="literalSpans"/> (the messages' own text), where it stays text, so a user cannot
    /// type a turn boundary. Same ids as <see cref="Encode(string, bool, bool)"/> with parseSpecial where
    /// the spans hold no control-token text.
    /// </summary>
    public int[] EncodeWithLiteralSpans(string text, bool addBos, IReadOnlyList<(int Start, int Length)> literalSpans)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(literalSpans);
        var output = new List<int>(text.Length / 3 + 4);
        Encode(text.AsSpan(), output, addBos, parseSpecial: true, literalSpans);
        return output.ToArray();
    }

    /// <summary>Tokenizes into <paramref name="output"/> (appending).</summary>
    public void Encode(ReadOnlySpan<char> text, List<int> output, bool addBos = true, bool parseSpecial = false) =>
        Encode(text, output, addBos, parseSpecial, null);

    private void Encode(ReadOnlySpan<char> text, List<int> output, bool addBos, bool parseSpecial, IReadOnlyList<(int Start, int Length)>? literal)
    {
        ArgumentNullException.ThrowIfNull(output);
        string? sanitized = null;
        if (Codepoints.HasLoneSurrogate(text))
        {
            // What UTF-8 encoding would make of it, so that llama.cpp sees the same text.
            sanitized = Encoding.UTF8.GetString(Encoding.UTF8.GetBytes(text.ToArray()));
            text = sanitized;
        }

        var scratch = EncodeScratch.Rent();
        try
        {
            var fragments = scratch.Fragments;
            Partition(text, parseSpecial, fragments, scratch.FragmentsSwap, literal);

            if (addBos && _vocab.AddBos) output.Add(_vocab.BosId);
            bool previousWasSpecial = true; // SentencePiece: the text's start counts as "after a special token"
            foreach (var f in fragments)
            {
                if (f.Token >= 0)
                {
                    output.Add(f.Token);
                    previousWasSpecial = true;
                    continue;
                }
                var piece = text.Slice(f.Start, f.Length);
                if (_vocab.Kind == TokenizerKind.SentencePiece)
                    EncodeSentencePiece(piece, _vocab.AddSpacePrefix && previousWasSpecial, output, scratch);
                else
                    EncodeBpe(piece, output, scratch);
                previousWasSpecial = false;
            }
            if (addBos && _vocab.AddEos) output.Add(_vocab.EosId);
        }
        finally
        {
            EncodeScratch.Return(scratch);
        }
    }

    internal readonly record struct Fragment(int Start, int Length, int Token);

    /// <summary>
    /// Splits out the text of special tokens, longest token first, each over all remaining text pieces
    /// (llama.cpp's tokenizer_st_partition, without the per-model lstrip/rstrip attributes). Inside
    /// <paramref name="literal"/> spans only user-defined tokens match, as if parseSpecial were off there.
    /// </summary>
    private void Partition(ReadOnlySpan<char> text, bool parseSpecial, List<Fragment> fragments, List<Fragment> swap,
        IReadOnlyList<(int Start, int Length)>? literal = null)
    {
        fragments.Clear();
        if (text.Length == 0) return;
        fragments.Add(new Fragment(0, text.Length, -1));
        foreach (int id in _specialTokens)
        {
            bool userDefined = _vocab.Types[id] == TokenType.UserDefined;
            if (!parseSpecial && !userDefined) continue;
            string special = _vocab.Tokens[id];
            if (text.IndexOf(special, StringComparison.Ordinal) < 0) continue;

            swap.Clear();
            foreach (var f in fragments)
            {
                if (f.Token >= 0) { swap.Add(f); continue; }
                int start = f.Start, end = f.Start + f.Length, from = start;
                while (from < end)
                {
                    int at = text[from..end].IndexOf(special, StringComparison.Ordinal);
                    if (at < 0) break;
                    at += from;
                    if (!userDefined && InsideLiteral(literal, at, special.Length)) { from = at + 1; continue; }
                    if (at > start) swap.Add(new Fragment(start, at - start, -1));
                    swap.Add(new Fragment(at, special.Length, id));
                    start = from = at + special.Length;
                }
                if (start < end) swap.Add(new Fragment(start, end - start, -1));
            }
            fragments.Clear();
            fragments.AddRange(swap);
        }
    }

    private static bool InsideLiteral(IReadOnlyList<(int Start, int Length)>? literal, int at, int length)
    {
        if (literal is null) return false;
        foreach (var (start, len) in literal)
            if (at < start + len && start < at + length) return true;
        return false;
    }

    private void EncodeSentencePiece(ReadOnlySpan<char> fragment, bool spacePrefix, List<int> output, EncodeScratch s)
    {
        // The text as SentencePiece sees it: optional leading space, every ' ' as '▁'.
        int length = fragment.Length + (spacePrefix ? 1 : 0);
        var chars = s.Chars(length);
        int p = 0;
        if (spacePrefix) chars[p++] = '\u2581';
        foreach (char c in fragment) chars[p++] = c == ' ' ? '\u2581' : c;
        var text = chars.AsSpan(0, length);

        // One symbol per code point, linked left to right.
        s.EnsureSymbols(length);
        int count = 0;
        for (int i = 0; i < length; count++)
        {
            int w = char.IsHighSurrogate(text[i]) && i + 1 < length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            s.Start[count] = i; s.Len[count] = w; s.Prev[count] = count - 1; s.Next[count] = i + w < length ? count + 1 : -1;
            i += w;
        }
        if (count == 0) return;

        var queue = s.Queue;
        queue.Clear();
        for (int i = 1; i < count; i++) TryAddSpmBigram(text, s, i - 1, i);
        while (queue.Count > 0)
        {
            var b = queue.Pop();
            if (s.Len[b.Left] == 0 || s.Len[b.Right] == 0 || s.Len[b.Left] + s.Len[b.Right] != b.Length) continue; // stale
            s.Len[b.Left] += s.Len[b.Right];
            s.Len[b.Right] = 0;
            s.Next[b.Left] = s.Next[b.Right];
            if (s.Next[b.Right] >= 0) s.Prev[s.Next[b.Right]] = b.Left;
            TryAddSpmBigram(text, s, s.Prev[b.Left], b.Left);
            TryAddSpmBigram(text, s, b.Left, s.Next[b.Left]);
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i != -1; i = s.Next[i])
        {
            var symbol = text.Slice(s.Start[i], s.Len[i]);
            if (_tokenLookup.TryGetValue(symbol, out int id)) { output.Add(id); continue; }
            // Not a token: its UTF-8 bytes as byte tokens.
            int cp = symbol.Length == 2 ? char.ConvertToUtf32(symbol[0], symbol[1]) : symbol[0];
            int nb = Codepoints.EncodeUtf8(cp, utf8);
            for (int k = 0; k < nb; k++) output.Add(ByteToken(utf8[k]));
        }
    }

    private void TryAddSpmBigram(ReadOnlySpan<char> text, EncodeScratch s, int left, int right)
    {
        if (left < 0 || right < 0) return;
        int len = s.Len[left] + s.Len[right];
        if (!_tokenLookup.TryGetValue(text.Slice(s.Start[left], len), out int id)) return;
        s.Queue.Push(new Bigram { Priority = BigramQueue.ScorePriority(_vocab.Scores[id]), Left = left, Right = right, Length = len });
    }

    private int ByteToken(byte b)
    {
        int id = _byteTokens[b];
        if (id >= 0) return id;
        if (_vocab.UnknownId >= 0) return _vocab.UnknownId;
        throw new InvalidOperationException(
            $"the vocabulary has no byte token <0x{b:X2}> and no unknown token, so the byte 0x{b:X2} cannot be encoded");
    }

    private void EncodeBpe(ReadOnlySpan<char> fragment, List<int> output, EncodeScratch s)
    {
        var cpts = s.Codepoints(fragment.Length);
        int ncp = Codepoints.ToCodepoints(fragment, cpts);
        var words = s.Words;
        PreTokenizerRules.Split(_vocab.Pre, cpts.AsSpan(0, ncp), words, s.WordsSwap);

        Span<byte> utf8 = stackalloc byte[4];
        int cpStart = 0;
        foreach (int wordLength in words)
        {
            // The word's UTF-8 bytes in GPT-2's byte alphabet: one char per byte.
            int byteCount = 0;
            for (int k = cpStart; k < cpStart + wordLength; k++) byteCount += Codepoints.EncodeUtf8(cpts[k], utf8);
            var chars = s.Chars(byteCount);
            int p = 0;
            for (int k = cpStart; k < cpStart + wordLength; k++)
            {
                int nb = Codepoints.EncodeUtf8(cpts[k], utf8);
                for (int j = 0; j < nb; j++) chars[p++] = _byteToChar[utf8[j]];
            }
            cpStart += wordLength;
            EncodeBpeWord(chars.AsSpan(0, byteCount), output, s);
        }
    }

    private void EncodeBpeWord(ReadOnlySpan<char> word, List<int> output, EncodeScratch s)
    {
        if (_vocab.IgnoreMerges && _tokenLookup.TryGetValue(word, out int whole)) { output.Add(whole); return; }

        int count = word.Length; // every char is one byte, so one symbol
        s.EnsureSymbols(count);
        for (int i = 0; i < count; i++) { s.Start[i] = i; s.Len[i] = 1; s.Prev[i] = i - 1; s.Next[i] = i + 1 < count ? i + 1 : -1; }

        var queue = s.Queue;
        queue.Clear();
        for (int i = 1; i < count; i++) TryAddBpeBigram(word, s, i - 1, i);
        while (queue.Count > 0)
        {
            var b = queue.Pop();
            if (s.Len[b.Left] == 0 || s.Len[b.Right] == 0 || s.Len[b.Left] + s.Len[b.Right] != b.Length) continue; // stale
            s.Len[b.Left] += s.Len[b.Right];
            s.Len[b.Right] = 0;
            s.Next[b.Left] = s.Next[b.Right];
            if (s.Next[b.Right] >= 0) s.Prev[s.Next[b.Right]] = b.Left;
            TryAddBpeBigram(word, s, s.Prev[b.Left], b.Left);
            TryAddBpeBigram(word, s, b.Left, s.Next[b.Left]);
        }

        for (int i = 0; i != -1; i = s.Next[i])
        {
            var symbol = word.Slice(s.Start[i], s.Len[i]);
            if (_tokenLookup.TryGetValue(symbol, out int id)) { output.Add(id); continue; }
            // llama.cpp looks up each UTF-8 byte of the symbol as a one-byte token: only ASCII can match.
            foreach (char c in symbol)
                if (c < 0x80 && _tokenLookup.TryGetValue(new ReadOnlySpan<char>(in c), out int single)) output.Add(single);
        }
    }

    private void TryAddBpeBigram(ReadOnlySpan<char> word, EncodeScratch s, int left, int right)
    {
        if (left < 0 || right < 0) return;
        int ll = s.Len[left], rl = s.Len[right];
        var key = s.MergeKey(ll + rl + 1);
        word.Slice(s.Start[left], ll).CopyTo(key);
        key[ll] = ' ';
        word.Slice(s.Start[right], rl).CopyTo(key.AsSpan(ll + 1));
        if (!_mergeLookup.TryGetValue(key.AsSpan(0, ll + rl + 1), out int rank)) return;
        s.Queue.Push(new Bigram { Priority = rank, Left = left, Right = right, Length = ll + rl });
    }

    // ---------------------------------------------------------------- decoding

    private byte[] ComputePiece(int id)
    {
        string text = _vocab.Tokens[id];
        switch (_vocab.Types[id])
        {
            case TokenType.Control or TokenType.Unknown or TokenType.UserDefined:
                return Encoding.UTF8.GetBytes(text);
            case TokenType.Byte:
                return TryParseByteToken(text, out byte b) ? [b] : Encoding.UTF8.GetBytes(text);
            case TokenType.Normal:
                return _vocab.Kind == TokenizerKind.SentencePiece
                    ? Encoding.UTF8.GetBytes(text.Replace('\u2581', ' '))
                    : ByteLevel.Decode(text);
            default: // unused, undefined: nothing, as llama.cpp
                return [];
        }
    }

    private static bool TryParseByteToken(string text, out byte value)
    {
        value = 0;
        return text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
            && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
    }

    /// <summary>Decodes a whole sequence: control tokens hidden, the SentencePiece space prefix removed.</summary>
    public string Decode(ReadOnlySpan<int> tokens) => Decode(tokens, renderSpecial: false, stripSpacePrefix: true);

    /// <summary>
    /// Decodes token ids to text. <paramref name="renderSpecial"/> writes control and unknown tokens as
    /// their text (otherwise they vanish). <paramref name="stripSpacePrefix"/>, for vocabularies that add
    /// a space prefix when encoding, removes one leading space from the first non-control token, so
    /// that Decode(Encode(s)) == s; pass false when decoding a continuation. Bytes that are not valid
    /// UTF-8 become U+FFFD.
    /// </summary>
    public string Decode(ReadOnlySpan<int> tokens, bool renderSpecial, bool stripSpacePrefix = true)
    {
        int total = 0;
        for (int i = 0; i < tokens.Length; i++)
        {
            int id = tokens[i];
            if ((uint)id >= (uint)_pieces.Length)
                throw new ArgumentOutOfRangeException(nameof(tokens), id,
                    $"token id {id} at position {i} is outside the vocabulary (size {_pieces.Length})");
            total += _pieces[id].Length;
        }
        byte[] buffer = ArrayPool<byte>.Shared.Rent(Math.Max(total, 1));
        try
        {
            int n = 0;
            bool strip = stripSpacePrefix && _vocab.AddSpacePrefix;
            foreach (int id in tokens)
            {
                bool hidden = IsHiddenUnlessSpecial(id);
                if (hidden && !renderSpecial) continue;
                var piece = _pieces[id].AsSpan();
                if (strip && !hidden)
                {
                    if (piece.Length > 0 && piece[0] == (byte)' ') piece = piece[1..];
                    strip = false;
                }
                piece.CopyTo(buffer.AsSpan(n));
                n += piece.Length;
            }
            return Encoding.UTF8.GetString(buffer, 0, n);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>An incremental decoder for streaming generated tokens (see <see cref="TokenizerStreamDecoder"/>).</summary>
    public TokenizerStreamDecoder CreateStreamDecoder(bool renderSpecial = false, bool stripSpacePrefix = false) =>
        new(this, renderSpecial, stripSpacePrefix);
}
