using System.Text;

namespace Actors.Inference.Tokenization;

/// <summary>
/// GPT-2's reversible byte-to-unicode alphabet: the printable bytes '!'..'~', '¡'..'¬', '®'..'ÿ' stand
/// for themselves, the other 68 bytes map in order to U+0100 upwards (so ' ' is 'Ġ', '\n' is 'Ċ').
/// </summary>
internal static class ByteLevel
{
    public static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly short[] CharToByte = BuildCharToByte();

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var direct = new bool[256];
        for (int b = 0; b < 256; b++)
            direct[b] = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
        int next = 256;
        for (int b = 0; b < 256; b++) map[b] = direct[b] ? (char)b : (char)next++;
        return map;
    }

    private static short[] BuildCharToByte()
    {
        var map = new short[512];
        Array.Fill(map, (short)-1);
        for (int b = 0; b < 256; b++) map[ByteToChar[b]] = (short)b;
        return map;
    }

    /// <summary>
    /// A byte-level token's text back to its bytes. A character outside the alphabet (never in a real
    /// GPT-2 vocabulary) is kept as its own UTF-8 rather than dropped.
    /// </summary>
    public static byte[] Decode(string text)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < CharToByte.Length && CharToByte[c] >= 0) { bytes.Add((byte)CharToByte[c]); continue; }
            int cp = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
                ? char.ConvertToUtf32(c, text[++i])
                : char.IsSurrogate(c) ? 0xFFFD : c;
            int n = Codepoints.EncodeUtf8(cp, utf8);
            for (int k = 0; k < n; k++) bytes.Add(utf8[k]);
        }
        return bytes.ToArray();
    }

    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length);
        foreach (byte b in bytes) sb.Append(ByteToChar[b]);
        return sb.ToString();
    }
}
