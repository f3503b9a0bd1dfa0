namespace Actors.Inference.Tests.Tokenization;

/// <summary>
/// Text that tells tokenizers apart: whitespace runs, newlines and CRLF, contractions, digits, code,
/// URLs, many scripts, emoji sequences, combining marks, control characters and text that looks like
/// special tokens of every family.
/// </summary>
public static class TokenizerCorpus
{
    public static readonly string[] Texts =
    [
        "", " ", "  ", "    ", "\t", "\t\t  \t", "\n", "\n\n", "\n\n\n\n", " \n ", "\r\n", "\r\n\r\n", "a\r\nb", "line1\nline2\r\nline3\rline4",
        "trailing   ", "   leading", "a  b   c    d     e", "x \n\n y", "tab\tseparated\tvalues",
        "Hello world", "Hello, World! How are you?", "The quick brown fox jumps over the lazy dog.",
        "it's", "It's", "IT'S", "don't", "we'll", "WE'LL", "they're", "I've", "I'm", "he'd", "'s", "''", "rock 'n' roll", "O'Neil's",
        "0", "12", "123", "1234", "12345678901234567890", "3.14159", "1,000,000", "-42", "+1e-10", "0x1F", "v1.2.3", "2026-12-06T08:00:00Z",
        "٣٤٥٦", "①②③", "²³", "Ⅻ",
        "def f(x):\n    return x**2  # square\n", "for (int i = 0; i < n; i++) { sum += a[i]; }", "if x != None and y >= 3:\n\tpass",
        "const s = `${a} + ${b}`;", "<div class=\"x\">&amp;</div>", "{\"key\": [1, 2.5, null, true], \"n\": {\"m\": \"v\"}}",
        "SELECT * FROM t WHERE id = 7;", "#include <stdio.h>", "a/b\\c|d", "~!@#$%^&*()_+-=[]{};':\",./<>?",
        "https://example.com/path?query=1&x=y#frag", "mailto:someone@example.org", "C:\\Program Files\\x", "www.test.io/a-b_c",
        "日本語のテキストです。", "中文字符测试，标点！", "한국어 텍스트", "カタカナ ひらがな 漢字",
        "Привет, мир! Как дела?", "Ελληνικά γράμματα", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "हिन्दी में लिखा", "ภาษาไทย",
        "😀", "😀😀😀", " 😀", "👍🏽", "👍🏿 thumbs", "👨‍👩‍👧‍👦", "👩🏽‍💻 coder", "🏳️‍🌈", "🇫🇷🇯🇵", "❤️", "a😀b",
        "e\u0301", "cafe\u0301", "n\u0303", "a\u0300\u0301\u0302", "Z\u0351\u0337a\u0318lgo", "ﬁne", "ǅ", "\u00A0x\u00A0", "\u3000全角",
        "\u0001", "\u0007bell", "x\u007Fy", "\u200B", "a\u200Db", "\uFEFFbom", "\u000B\u000C", "\u001B[31mred\u001B[0m",
        "<s>", "</s>", "<unk>", "<s>Hello</s>", "[INST] hi [/INST]", "<|begin_of_text|>", "<|eot_id|>", "<|end_of_text|>",
        "<|start_header_id|>user<|end_header_id|>", "<|im_start|>user\nhi<|im_end|>", "<|endoftext|>", "<think>x</think>",
        "<bos>", "<eos>", "<start_of_turn>user\nhi<end_of_turn>", "<pad>", "<unused0>", "<0x41>", "<|fake|>", "< s >", "<<s>>",
        "\u2581", "\u2581\u2581x", "Ġ", "Ċ", "ĠĠ",
        "Mixed: English, русский, 中文, العربية, हिन्दी, 😀 and code `x += 1` at https://a.b/c?d=e\r\n\ttabbed",
    ];
}
