using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Actors.Inference.ChatTemplates;

internal enum JinjaTokenKind
{
    Text, ExprOpen, ExprClose, StmtOpen, StmtClose,
    Name, String, Integer, Float, Operator, End,
}

internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, SourcePosition Position);

/// <summary>
/// Splits a template into text and tag tokens. The source is first prepared as Hugging Face renders chat
/// templates (transformers and @huggingface/jinja): one trailing newline dropped, lstrip_blocks and
/// trim_blocks on, {% generation %} markers removed. "-" inside a tag delimiter strips the whitespace on
/// that side.
/// </summary>
internal static partial class JinjaLexer
{
    private static readonly string[] Operators =
        ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    [GeneratedRegex(@"\{%(-?)\s*(?:end)?generation\s*(-?)%\}(\s*)", RegexOptions.Singleline)]
    private static partial Regex Generation();

    /// <summary>
    /// The source as Hugging Face prepares it, and for every character kept its offset in the original
    /// (so that errors point into the template as written).
    /// </summary>
    public static (string Text, int[] Origin) Prepare(string template)
    {
        int n = template.EndsWith('\n') ? template.Length - 1 : template.Length;
        var keep = new bool[n];
        Array.Fill(keep, true);
        for (int i = 0; i < n; i++)
        {
            // lstrip_blocks: spaces and tabs that start a line before "{%", "{#" (or "{-").
            if (i == 0 || template[i - 1] == '\n')
            {
                int j = i;
                while (j < n && template[j] is ' ' or '\t') j++;
                if (j > i && j + 1 < n && template[j] == '{' && template[j + 1] is '#' or '%' or '-')
                    for (int k = i; k < j; k++) keep[k] = false;
            }
            // trim_blocks: the newline right after "%}", "#}" (or "-}").
            if (template[i] == '\n' && i >= 2 && template[i - 1] == '}' && template[i - 2] is '#' or '%' or '-') keep[i] = false;
        }
        var sb = new StringBuilder(n);
        var origin = new List<int>(n + 1);
        for (int i = 0; i < n; i++)
            if (keep[i]) { sb.Append(template[i]); origin.Add(i); }

        // {% generation %} / {% endgeneration %} markers (assistant-mask hints) render as nothing.
        string prepared = sb.ToString();
        var matches = Generation().Matches(prepared);
        if (matches.Count > 0)
        {
            var text = new StringBuilder();
            var map = new List<int>();
            int last = 0;
            void Copy(int from, int to) { text.Append(prepared, from, to - from); for (int k = from; k < to; k++) map.Add(origin[k]); }
            foreach (Match m in matches)
            {
                int end = m.Index;
                if (m.Groups[1].Length > 0) while (end > last && char.IsWhiteSpace(prepared[end - 1])) end--;
                Copy(last, end);
                if (m.Groups[2].Length == 0) Copy(m.Groups[3].Index, m.Groups[3].Index + m.Groups[3].Length);
                last = m.Index + m.Length;
            }
            Copy(last, prepared.Length);
            prepared = text.ToString();
            origin = map;
        }
        origin.Add(n);
        return (prepared, origin.ToArray());
    }

    public static List<JinjaToken> Tokenize(string template)
    {
        var (src, origin) = Prepare(template);
        var tokens = new List<JinjaToken>();
        int i = 0;
        bool stripNextText = false;
        var lineStarts = new List<int> { 0 };
        for (int k = 0; k < template.Length; k++) if (template[k] == '\n') lineStarts.Add(k + 1);
        SourcePosition Pos(int preparedOffset)
        {
            int offset = origin[Math.Min(preparedOffset, origin.Length - 1)];
            int line = lineStarts.BinarySearch(offset);
            if (line < 0) line = ~line - 1;
            return new SourcePosition(line + 1, offset - lineStarts[line] + 1);
        }

        while (i < src.Length)
        {
            int open = FindOpen(src, i);
            string text = src[i..(open < 0 ? src.Length : open)];
            if (stripNextText) text = text.TrimStart();
            bool stripPrevious = open >= 0 && open + 2 < src.Length && src[open + 2] == '-';
            if (stripPrevious) text = text.TrimEnd();
            if (text.Length > 0) tokens.Add(new JinjaToken(JinjaTokenKind.Text, text, Pos(i)));
            stripNextText = false;
            if (open < 0) break;

            char kind = src[open + 1];
            int p = open + 2 + (stripPrevious ? 1 : 0);
            if (kind == '#')
            {
                int close = src.IndexOf("#}", p, StringComparison.Ordinal);
                if (close < 0) throw JinjaException.At(Pos(open), "unclosed comment '{#'");
                stripNextText = src[close - 1] == '-' && close - 1 >= p;
                i = close + 2;
                continue;
            }
            tokens.Add(new JinjaToken(kind == '{' ? JinjaTokenKind.ExprOpen : JinjaTokenKind.StmtOpen, "", Pos(open)));
            string closer = kind == '{' ? "}}" : "%}";
            p = LexTag(src, p, closer, tokens, Pos, out bool stripAfter);
            tokens.Add(new JinjaToken(kind == '{' ? JinjaTokenKind.ExprClose : JinjaTokenKind.StmtClose, "", Pos(p)));
            stripNextText = stripAfter;
            i = p + 2;
        }
        tokens.Add(new JinjaToken(JinjaTokenKind.End, "", Pos(src.Length)));
        return tokens;
    }

    private static int FindOpen(string src, int from)
    {
        for (int k = src.IndexOf('{', from); k >= 0 && k + 1 < src.Length; k = src.IndexOf('{', k + 1))
            if (src[k + 1] is '{' or '%' or '#') return k;
        return -1;
    }

    /// <summary>Lexes the inside of a tag up to its closer; returns the closer's offset.</summary>
    private static int LexTag(string src, int p, string closer, List<JinjaToken> tokens, Func<int, SourcePosition> pos, out bool stripAfter)
    {
        while (true)
        {
            while (p < src.Length && char.IsWhiteSpace(src[p])) p++;
            if (p >= src.Length) throw JinjaException.At(pos(p), $"tag not closed (expected '{closer}')");
            if (src[p] == '-' && string.CompareOrdinal(src, p + 1, closer, 0, 2) == 0) { stripAfter = true; return p + 1; }
            if (string.CompareOrdinal(src, p, closer, 0, 2) == 0) { stripAfter = false; return p; }
            char c = src[p];
            int start = p;
            if (char.IsLetter(c) || c == '_')
            {
                while (p < src.Length && (char.IsLetterOrDigit(src[p]) || src[p] == '_')) p++;
                tokens.Add(new JinjaToken(JinjaTokenKind.Name, src[start..p], pos(start)));
            }
            else if (char.IsAsciiDigit(c))
            {
                while (p < src.Length && (char.IsAsciiDigit(src[p]) || src[p] == '_')) p++;
                bool isFloat = p + 1 < src.Length && src[p] == '.' && char.IsAsciiDigit(src[p + 1]);
                if (isFloat) { p++; while (p < src.Length && char.IsAsciiDigit(src[p])) p++; }
                tokens.Add(new JinjaToken(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, src[start..p].Replace("_", ""), pos(start)));
            }
            else if (c is '"' or '\'')
            {
                var sb = new StringBuilder();
                p++;
                while (true)
                {
                    if (p >= src.Length) throw JinjaException.At(pos(start), "unterminated string literal");
                    char d = src[p++];
                    if (d == c) break;
                    if (d != '\\' || p >= src.Length) { sb.Append(d); continue; }
                    char e = src[p++];
                    switch (e)
                    {
                        case 'n': sb.Append('\n'); break;
                        case 't': sb.Append('\t'); break;
                        case 'r': sb.Append('\r'); break;
                        case 'b': sb.Append('\b'); break;
                        case 'f': sb.Append('\f'); break;
                        case 'v': sb.Append('\v'); break;
                        case '0': sb.Append('\0'); break;
                        case 'u' when p + 4 <= src.Length:
                            sb.Append((char)int.Parse(src.AsSpan(p, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture)); p += 4; break;
                        case '\\' or '\'' or '"': sb.Append(e); break;
                        case '\n': break;
                        default: sb.Append('\\').Append(e); break;
                    }
                }
                tokens.Add(new JinjaToken(JinjaTokenKind.String, sb.ToString(), pos(start)));
            }
            else
            {
                string? op = null;
                foreach (var candidate in Operators)
                    if (string.CompareOrdinal(src, p, candidate, 0, candidate.Length) == 0) { op = candidate; break; }
                if (op is null) throw JinjaException.At(pos(p), $"unexpected character '{c}'");
                tokens.Add(new JinjaToken(JinjaTokenKind.Operator, op, pos(p)));
                p += op.Length;
            }
        }
    }
}
