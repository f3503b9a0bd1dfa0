using System.Text;
using Actors.Inference.Synthetic;

namespace Actors.Inference.Tests.Tokenization;

/// <summary>Random text that exercises tokenizers: words, whitespace runs, digits, punctuation, many scripts, emoji.</summary>
internal static class RandomText
{
    private static readonly string[] Words = SyntheticVocabulary.Corpus.Split(' ', StringSplitOptions.RemoveEmptyEntries);

    private static readonly string[] Fragments =
    [
        " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\u00A0", "\u3000", "\u2009",
        "'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Re", "it's", "don't", "'",
        "12345", "0", "42", "3.14", "1,000,000", "٣٤٥", "²", "Ⅻ",
        ".", ",", "!", "?", "...", "--", "(", ")", "[", "]", "{", "}", "<", ">", "=", "+", "-", "*", "/", "\\", "|", "~", "`", "^", "$", "%", "&", "#", "@", "_", ";", ":", "\"",
        "é", "ñ", "ü", "ß", "Å", "ç", "e\u0301", "naïve", "café", "Ελληνικά", "Привет", "мир", "שלום", "مرحبا", "हिन्दी", "ไทย",
        "日本語", "中文", "漢字", "한국어", "カタカナ", "ひらがな",
        "😀", "🎉", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🤖", "∑", "€", "£", "©", "™", "→", "∞",
        "<s>", "</s>", "<unk>", "<|begin_of_text|>", "<|end_of_text|>", "<0x41>", "\u2581", "Ġ", "<unused0>",
    ];

    public static string Next(ref DeterministicRandom rng, int maxParts = 12)
    {
        var sb = new StringBuilder();
        int parts = 1 + rng.NextInt(maxParts);
        for (int i = 0; i < parts; i++)
        {
            switch (rng.NextInt(10))
            {
                case 0 or 1 or 2:
                    if (rng.NextInt(2) == 0) sb.Append(' ');
                    sb.Append(Words[rng.NextInt(Words.Length)]);
                    break;
                case 3 or 4 or 5:
                    sb.Append(Fragments[rng.NextInt(Fragments.Length)]);
                    break;
                case 6:
                    for (int k = rng.NextInt(6); k >= 0; k--) sb.Append((char)('0' + rng.NextInt(10)));
                    break;
                case 7:
                    for (int k = rng.NextInt(5); k >= 0; k--) sb.Append(" \t\n\r"[rng.NextInt(4)]);
                    break;
                case 8:
                    sb.Append(RandomCodepoint(ref rng));
                    break;
                default:
                    for (int k = rng.NextInt(8); k >= 0; k--) sb.Append((char)(rng.NextInt(2) == 0 ? 'a' + rng.NextInt(26) : 'A' + rng.NextInt(26)));
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>A code point from a block assigned long ago (so Unicode-version differences do not matter).</summary>
    private static string RandomCodepoint(ref DeterministicRandom rng)
    {
        (int Lo, int Hi)[] blocks =
        [
            (0x21, 0x7E), (0xA1, 0xFF), (0x100, 0x17F), (0x391, 0x3C9), (0x410, 0x44F), (0x5D0, 0x5EA), (0x621, 0x64A),
            (0x4E00, 0x9FA5), (0x3041, 0x3094), (0xAC00, 0xD7A3), (0x2200, 0x22FF), (0x2500, 0x257F), (0x1F600, 0x1F64F),
            (0x1F300, 0x1F5FF), (0x20, 0x20), (0x300, 0x36F),
        ];
        var (lo, hi) = blocks[rng.NextInt(blocks.Length)];
        return char.ConvertFromUtf32(lo + rng.NextInt(hi - lo + 1));
    }
}
