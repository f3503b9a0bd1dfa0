using System.Globalization;

namespace Actors.Inference.Tokenization;

/// <summary>
/// The Unicode classes the pre-tokenizer regexes ask about (\p{L}, \p{N}, \p{P}, \s, ...), per code point.
/// Categories come from .NET's tables; whitespace is the Unicode White_Space property, which is what
/// llama.cpp's tables hold too (.NET's <see cref="char.IsWhiteSpace(char)"/> is the same set).
/// A code point assigned in a newer Unicode version than llama.cpp's tables may classify differently.
/// </summary>
[Flags]
internal enum CodepointFlags : ushort
{
    None = 0,
    Letter = 1 << 0,
    Number = 1 << 1,
    Punctuation = 1 << 2,
    Symbol = 1 << 3,
    Mark = 1 << 4,
    Separator = 1 << 5,
    Control = 1 << 6,
    /// <summary>Unassigned, private use, surrogate, format: still "something" (never <see cref="None"/>).</summary>
    Other = 1 << 7,
    Whitespace = 1 << 8,
}

internal static class Codepoints
{
    private static readonly CodepointFlags[] Bmp = BuildBmp();

    public static CodepointFlags Flags(int cp) => (uint)cp < 0x10000 ? Bmp[cp] : Compute(cp);

    public static bool IsLetter(int cp) => (Flags(cp) & CodepointFlags.Letter) != 0;
    public static bool IsNumber(int cp) => (Flags(cp) & CodepointFlags.Number) != 0;
    public static bool IsWhitespace(int cp) => (Flags(cp) & CodepointFlags.Whitespace) != 0;

    private static CodepointFlags[] BuildBmp()
    {
        var table = new CodepointFlags[0x10000];
        for (int cp = 0; cp < table.Length; cp++) table[cp] = Compute(cp);
        return table;
    }

    private static CodepointFlags Compute(int cp)
    {
        var flags = CharUnicodeInfo.GetUnicodeCategory(cp) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CodepointFlags.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CodepointFlags.Number,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => CodepointFlags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => CodepointFlags.Symbol,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => CodepointFlags.Mark,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => CodepointFlags.Separator,
            UnicodeCategory.Control => CodepointFlags.Control,
            _ => CodepointFlags.Other,
        };
        if (IsWhiteSpaceProperty(cp)) flags |= CodepointFlags.Whitespace;
        return flags;
    }

    /// <summary>Unicode's White_Space property (PropList.txt).</summary>
    private static bool IsWhiteSpaceProperty(int cp) =>
        cp is >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A
            or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>
    /// UTF-16 to code points. A lone surrogate becomes U+FFFD, exactly what UTF-8 encoding the string
    /// (as llama.cpp's callers do) would produce.
    /// </summary>
    public static int ToCodepoints(ReadOnlySpan<char> text, Span<int> destination)
    {
        int n = 0;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                destination[n++] = char.ConvertToUtf32(c, text[i + 1]);
                i++;
            }
            else destination[n++] = char.IsSurrogate(c) ? 0xFFFD : c;
        }
        return n;
    }

    /// <summary>Writes the UTF-8 bytes of one code point; returns the count (1-4).</summary>
    public static int EncodeUtf8(int cp, Span<byte> dest)
    {
        if (cp < 0x80) { dest[0] = (byte)cp; return 1; }
        if (cp < 0x800) { dest[0] = (byte)(0xC0 | (cp >> 6)); dest[1] = (byte)(0x80 | (cp & 0x3F)); return 2; }
        if (cp < 0x10000)
        {
            dest[0] = (byte)(0xE0 | (cp >> 12)); dest[1] = (byte)(0x80 | ((cp >> 6) & 0x3F)); dest[2] = (byte)(0x80 | (cp & 0x3F));
            return 3;
        }
        dest[0] = (byte)(0xF0 | (cp >> 18)); dest[1] = (byte)(0x80 | ((cp >> 12) & 0x3F));
        dest[2] = (byte)(0x80 | ((cp >> 6) & 0x3F)); dest[3] = (byte)(0x80 | (cp & 0x3F));
        return 4;
    }

    /// <summary>True when the string has a surrogate that is not part of a valid pair.</summary>
    public static bool HasLoneSurrogate(ReadOnlySpan<char> text)
    {
        int i = text.IndexOfAnyInRange('\uD800', '\uDFFF');
        if (i < 0) return false;
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!char.IsSurrogate(c)) continue;
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            return true;
        }
        return false;
    }
}
