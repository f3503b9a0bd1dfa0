namespace Actors.Inference.Tokenization;

/// <summary>The word-splitting rule of a GPT-2-style BPE vocabulary, chosen by <c>tokenizer.ggml.pre</c>.</summary>
public enum PreTokenizerKind
{
    /// <summary>
    /// llama.cpp's fallback ("default" or no pre key): runs of punctuation, then the GPT-2 rule, then runs
    /// of digits, then ASCII digit triples, each splitting the pieces of the one before.
    /// </summary>
    Default,
    /// <summary>GPT-2: <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.</summary>
    Gpt2,
    /// <summary>
    /// Llama 3: <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>.
    /// </summary>
    Llama3,
    /// <summary>Qwen 2: the Llama 3 rule with single digits (<c>\p{N}</c> instead of <c>\p{N}{1,3}</c>).</summary>
    Qwen2,
}

/// <summary>
/// Splits code points into words the way llama.cpp's pre-tokenizers do. The regexes are not run
/// through a regex engine: like llama.cpp's hand-written matchers (unicode.cpp), each rule is a
/// scan over code points with Unicode classes from <see cref="Codepoints"/>, so that the quirks
/// match too (a lone space before a digit is its own word, "\s+(?!\S)" leaves the last space
/// for the next word, ...). Words are returned as lengths in code points, in order.
/// </summary>
internal static class PreTokenizerRules
{
    public static void Split(PreTokenizerKind kind, ReadOnlySpan<int> cpts, List<int> words, List<int> scratch)
    {
        words.Clear();
        if (cpts.Length == 0) return;
        words.Add(cpts.Length);
        switch (kind)
        {
            case PreTokenizerKind.Gpt2:
                Apply(cpts, words, scratch, Gpt2);
                break;
            case PreTokenizerKind.Llama3:
                Apply(cpts, words, scratch, (c, s, e, o) => Llama3(c, s, e, o, maxDigits: 3));
                break;
            case PreTokenizerKind.Qwen2:
                Apply(cpts, words, scratch, (c, s, e, o) => Llama3(c, s, e, o, maxDigits: 1));
                break;
            default:
                Apply(cpts, words, scratch, (c, s, e, o) => Runs(c, s, e, o, IsDefaultPunctuation));
                Apply(cpts, words, scratch, Gpt2);
                Apply(cpts, words, scratch, (c, s, e, o) => Runs(c, s, e, o, Codepoints.IsNumber));
                Apply(cpts, words, scratch, AsciiDigitTriples);
                break;
        }
    }

    private delegate void Rule(ReadOnlySpan<int> cpts, int start, int end, List<int> output);

    /// <summary>Runs one rule over every current piece; the result replaces <paramref name="words"/>.</summary>
    private static void Apply(ReadOnlySpan<int> cpts, List<int> words, List<int> scratch, Rule rule)
    {
        scratch.Clear();
        int start = 0;
        foreach (int length in words)
        {
            rule(cpts, start, start + length, scratch);
            start += length;
        }
        words.Clear();
        words.AddRange(scratch);
    }

    /// <summary>
    /// The default rule's first regex, <c>[\p{P}\$\+&lt;=&gt;\^~\|]+</c>, as llama.cpp evaluates it: ASCII
    /// characters by an explicit list (all ASCII punctuation and symbols except the backtick),
    /// others by the Unicode punctuation category.
    /// </summary>
    private static bool IsDefaultPunctuation(int cp) =>
        cp < 0x80
            ? cp is >= 0x21 and <= 0x2F or >= 0x3A and <= 0x40 or >= 0x5B and <= 0x5F or >= 0x7B and <= 0x7E
            : (Codepoints.Flags(cp) & CodepointFlags.Punctuation) != 0;

    /// <summary>A regex of the form <c>[class]+</c>: maximal runs match, the gaps between stay pieces.</summary>
    private static void Runs(ReadOnlySpan<int> cpts, int start, int end, List<int> output, Func<int, bool> inClass)
    {
        int prev = start, pos = start;
        while (pos < end)
        {
            if (!inClass(cpts[pos])) { pos++; continue; }
            if (pos > prev) output.Add(pos - prev);
            int runStart = pos;
            while (pos < end && inClass(cpts[pos])) pos++;
            output.Add(pos - runStart);
            prev = pos;
        }
        if (end > prev) output.Add(end - prev);
    }

    /// <summary><c>[0-9][0-9][0-9]</c>: leftmost non-overlapping triples of ASCII digits.</summary>
    private static void AsciiDigitTriples(ReadOnlySpan<int> cpts, int start, int end, List<int> output)
    {
        static bool Digit(int c) => c is >= '0' and <= '9';
        int prev = start, pos = start;
        while (pos + 3 <= end)
        {
            if (Digit(cpts[pos]) && Digit(cpts[pos + 1]) && Digit(cpts[pos + 2]))
            {
                if (pos > prev) output.Add(pos - prev);
                output.Add(3);
                pos += 3;
                prev = pos;
            }
            else pos++;
        }
        if (end > prev) output.Add(end - prev);
    }

    /// <summary>A cursor over one piece: code points and flags outside [start, end) read as "nothing".</summary>
    private readonly ref struct Piece(ReadOnlySpan<int> cpts, int start, int end)
    {
        private readonly ReadOnlySpan<int> _cpts = cpts;
        public readonly int Start = start, End = end;
        public int Cpt(int pos) => pos >= Start && pos < End ? _cpts[pos] : -1;
        public CodepointFlags Flags(int pos) => pos >= Start && pos < End ? Codepoints.Flags(_cpts[pos]) : CodepointFlags.None;
    }

    private const CodepointFlags WordClasses = CodepointFlags.Whitespace | CodepointFlags.Letter | CodepointFlags.Number;

    /// <summary>True for the contraction suffixes 's 't 're 've 'm 'll 'd at pos (an apostrophe); sets its length.</summary>
    private static bool Contraction(in Piece p, int pos, bool ignoreCase, out int length)
    {
        length = 0;
        if (p.Cpt(pos) != '\'' || pos + 1 >= p.End) return false;
        int n1 = Lower(p.Cpt(pos + 1), ignoreCase);
        if (n1 is 's' or 't' or 'm' or 'd') { length = 2; return true; }
        if (pos + 2 < p.End)
        {
            int n2 = Lower(p.Cpt(pos + 2), ignoreCase);
            if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) { length = 3; return true; }
        }
        return false;

        // Only ASCII letters lower-case to the letters compared against.
        static int Lower(int c, bool ignoreCase) => ignoreCase && c is >= 'A' and <= 'Z' ? c + 32 : c;
    }

    private static void Gpt2(ReadOnlySpan<int> cpts, int start, int end, List<int> output)
    {
        var p = new Piece(cpts, start, end);
        int prevEnd = start;
        void Emit(int to) { if (to > prevEnd) output.Add(to - prevEnd); prevEnd = to; }

        for (int pos = start; pos < end;)
        {
            int cpt = p.Cpt(pos);
            var flags = p.Flags(pos);
            if (Contraction(p, pos, ignoreCase: false, out int clen)) { pos += clen; Emit(pos); continue; }

            var flags2 = cpt == ' ' ? p.Flags(pos + 1) : flags;
            if ((flags2 & CodepointFlags.Letter) != 0) // ' ?\p{L}+'
            {
                if (cpt == ' ') pos++;
                while ((p.Flags(pos) & CodepointFlags.Letter) != 0) pos++;
                Emit(pos);
                continue;
            }
            if ((flags2 & CodepointFlags.Number) != 0) // ' ?\p{N}+'
            {
                if (cpt == ' ') pos++;
                while ((p.Flags(pos) & CodepointFlags.Number) != 0) pos++;
                Emit(pos);
                continue;
            }
            if ((flags2 & WordClasses) == 0 && flags2 != CodepointFlags.None) // ' ?[^\s\p{L}\p{N}]+'
            {
                if (cpt == ' ') pos++;
                for (var f = p.Flags(pos); (f & WordClasses) == 0 && f != CodepointFlags.None; f = p.Flags(++pos)) { }
                Emit(pos);
                continue;
            }
            int spaces = 0;
            while ((p.Flags(pos + spaces) & CodepointFlags.Whitespace) != 0) spaces++;
            if (spaces > 1 && p.Cpt(pos + spaces) != -1) { pos += spaces - 1; Emit(pos); continue; } // '\s+(?!\S)'
            if (spaces > 0) { pos += spaces; Emit(pos); continue; } // '\s+'
            Emit(++pos); // no rule matches: a word of one code point
        }
    }

    private static void Llama3(ReadOnlySpan<int> cpts, int start, int end, List<int> output, int maxDigits)
    {
        var p = new Piece(cpts, start, end);
        int prevEnd = start;
        void Emit(int to) { if (to > prevEnd) output.Add(to - prevEnd); prevEnd = to; }

        for (int pos = start; pos < end;)
        {
            int cpt = p.Cpt(pos);
            var flags = p.Flags(pos);
            if (Contraction(p, pos, ignoreCase: true, out int clen)) { pos += clen; Emit(pos); continue; }

            // '[^\r\n\p{L}\p{N}]?\p{L}+'
            if (cpt != '\r' && cpt != '\n' && (flags & CodepointFlags.Number) == 0
                && ((flags & CodepointFlags.Letter) != 0 || (p.Flags(pos + 1) & CodepointFlags.Letter) != 0))
            {
                pos++;
                while ((p.Flags(pos) & CodepointFlags.Letter) != 0) pos++;
                Emit(pos);
                continue;
            }
            // '\p{N}{1,3}' (or '\p{N}')
            if ((flags & CodepointFlags.Number) != 0)
            {
                int groupStart = pos;
                while ((p.Flags(pos) & CodepointFlags.Number) != 0)
                {
                    if (++pos - groupStart >= maxDigits) { Emit(pos); groupStart = pos; }
                }
                Emit(pos);
                continue;
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            var flags2 = cpt == ' ' ? p.Flags(pos + 1) : flags;
            if ((flags2 & WordClasses) == 0 && flags != CodepointFlags.None)
            {
                if (cpt == ' ') pos++;
                for (var f = flags2; (f & WordClasses) == 0 && f != CodepointFlags.None; f = p.Flags(++pos)) { }
                while (p.Cpt(pos) is '\r' or '\n') pos++;
                Emit(pos);
                continue;
            }
            int spaces = 0, lastNewlineEnd = 0;
            while ((p.Flags(pos + spaces) & CodepointFlags.Whitespace) != 0)
            {
                if (p.Cpt(pos + spaces) is '\r' or '\n') lastNewlineEnd = pos + spaces + 1;
                spaces++;
            }
            if (lastNewlineEnd > 0) { pos = lastNewlineEnd; Emit(pos); continue; } // '\s*[\r\n]+'
            if (spaces > 1 && p.Cpt(pos + spaces) != -1) { pos += spaces - 1; Emit(pos); continue; } // '\s+(?!\S)'
            if (spaces > 0) { pos += spaces; Emit(pos); continue; } // '\s+'
            Emit(++pos);
        }
    }
}
