using System.Text;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using Xunit;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.Tokenization;

/// <summary>
/// The key check: the same ids as llama.cpp's own tokenizer (LLamaSharp's CPU build) for generated
/// SentencePiece and GPT-2 BPE vocabularies, on tricky and random strings, with and without
/// special tokens added and parsed.
/// </summary>
[Collection(TokenizerModelsCollection.Name)]
public sealed class LlamaCppAgreementTests(TokenizerModels models, ITestOutputHelper output)
{
    public static readonly string[] Tricky =
    [
        "", " ", "  ", "   ", "\n", "\n\n", " \n", "\n ", "\t", "\r\n", " \r\n ", "a", " a", "a ", " a ", "  a  ",
        "Hello world", " Hello world", "Hello world ", "Hello  world", "Hello   world", "Hello\nworld", "Hello \n world",
        "it's", "It's", "IT'S", "we'll", "WE'LL", "they're", "I've", "I'm", "he'd", "'s", "'", "''", "' s", "don't stop",
        "12345", "1234567", " 12345", "123 456", "3.14159", "1,000", "-42", "x2", "2x", "٣٤٥٦", "①②③",
        "The quick brown fox jumps over the lazy dog.", "the the the", "The capital of France is Paris.",
        "héllo wörld", "naïve café", "e\u0301", "日本語のテキスト", "中文字符", "한국어", "Привет, мир!", "Ελληνικά",
        "😀", "😀😀", " 😀", "👍🏽", "👨‍👩‍👧 family", "🇫🇷", "❤️", "a😀b", "∑x²", "€100", "→∞",
        "<s>", "</s>", "<s>Hello", "Hello</s>", "<s> Hello</s>", "<unk>", "<|begin_of_text|>", "<|begin_of_text|>Hi",
        "<|end_of_text|>", "a<|end_of_text|>b", "<<s>>", "<0x41>", "\u2581", "\u2581x", "Ġ", "<unused0>",
        "\u00A0", "a\u00A0b", "\u3000x", "x\u2009y", "    indented code", "\tTab", "line1\nline2\r\nline3",
        "a  \n  b", "!!!", "...", "?!", " .", "(x)", "[1]", "{\"k\": \"v\"}", "a/b\\c", "x=y+z", "~tilde", "`tick`", "^caret|pipe",
        "$5", "100%", "#tag", "@user", "snake_case", "CamelCase", "UPPER lower", "ǅungla", "ﬁne",
        "\u0001", "\u007F", "\u200B", "\u200D", "\uFEFF", "\uE000",
    ];

    private static readonly (bool AddSpecial, bool ParseSpecial)[] Modes = [(true, false), (false, false), (true, true), (false, true)];

    [Theory]
    [MemberData(nameof(VariantData))]
    public void Tricky_strings_give_llama_cpp_ids(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var reference = models.Reference(variant);
        var failures = new List<string>();
        foreach (var text in Tricky)
            foreach (var (addSpecial, parseSpecial) in Modes)
                Compare(tokenizer, reference, text, addSpecial, parseSpecial, failures);
        foreach (var text in Tricky.Where(t => t.Contains("it's") || t.Contains("<s>Hello") || t == "12345"))
            output.WriteLine($"{Escape(text)} -> [{string.Join(", ", tokenizer.Encode(text, true, true))}]");
        Report(failures);
    }

    [Theory]
    [MemberData(nameof(VariantData))]
    public void Random_strings_give_llama_cpp_ids(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var reference = models.Reference(variant);
        var rng = new DeterministicRandom(DeterministicRandom.Hash(variant));
        var failures = new List<string>();
        for (int i = 0; i < 2000; i++)
        {
            string text = RandomText.Next(ref rng, maxParts: 1 + i % 20);
            var (addSpecial, parseSpecial) = Modes[i % Modes.Length];
            Compare(tokenizer, reference, text, addSpecial, parseSpecial, failures);
        }
        Report(failures);
    }

    [Theory]
    [InlineData("spm")]
    [InlineData("bpe-llama3")]
    public void Long_corpus_text_gives_llama_cpp_ids(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var reference = models.Reference(variant);
        string text = string.Concat(Enumerable.Repeat(SyntheticVocabulary.Corpus + "\n\n", 4));
        Assert.Equal(LlamaCpp.Tokenize(reference, text, true, false), tokenizer.Encode(text));
    }

    [Theory]
    [MemberData(nameof(VariantData))]
    public void Every_token_decodes_to_llama_cpp_piece(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var reference = models.Reference(variant);
        for (int id = 0; id < tokenizer.VocabSize; id++)
        {
            var expected = LlamaCpp.Piece(reference, id);
            // llama.cpp gives nothing for unused tokens; so do we.
            Assert.True(expected.AsSpan().SequenceEqual(tokenizer.TokenBytes(id)),
                $"token {id} \"{tokenizer.TokenText(id)}\": llama.cpp [{Convert.ToHexString(expected)}], ours [{Convert.ToHexString(tokenizer.TokenBytes(id))}]");
        }
    }

    [Theory]
    [MemberData(nameof(VariantData))]
    public void Special_token_ids_match_llama_cpp(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var reference = models.Reference(variant);
        Assert.Equal(reference.Vocab.Count, tokenizer.VocabSize);
        Assert.Equal((int?)reference.Vocab.BOS ?? -1, tokenizer.BosId);
        Assert.Equal((int?)reference.Vocab.EOS ?? -1, tokenizer.EosId);
    }

    public static TheoryData<string> VariantData()
    {
        var data = new TheoryData<string>();
        foreach (var v in TokenizerModels.Variants) data.Add(v);
        return data;
    }

    private static void Compare(Tokenizer tokenizer, LLama.LLamaWeights reference, string text, bool addSpecial, bool parseSpecial, List<string> failures)
    {
        int[] expected = LlamaCpp.Tokenize(reference, text, addSpecial, parseSpecial);
        int[] actual = tokenizer.Encode(text, addSpecial, parseSpecial);
        if (!expected.AsSpan().SequenceEqual(actual))
            failures.Add($"{Escape(text)} (addSpecial={addSpecial}, parseSpecial={parseSpecial})\n    llama.cpp: [{string.Join(", ", expected)}]\n    ours:      [{string.Join(", ", actual)}]");
    }

    private void Report(List<string> failures)
    {
        foreach (var f in failures.Take(20)) output.WriteLine(f);
        Assert.True(failures.Count == 0, $"{failures.Count} strings tokenized differently from llama.cpp; first: {failures.FirstOrDefault()}");
    }

    internal static string Escape(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
            sb.Append(c switch { '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", '"' => "\\\"", < ' ' or >= '\u007F' and < '\u00A0' => $"\\u{(int)c:X4}", _ => c.ToString() });
        return sb.Append('"').ToString();
    }
}
