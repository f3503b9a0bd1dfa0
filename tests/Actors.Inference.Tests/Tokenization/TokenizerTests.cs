using System.Diagnostics;
using System.Text;
using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using Xunit;
using Xunit.Abstractions;

namespace Actors.Inference.Tests.Tokenization;

[Collection(TokenizerModelsCollection.Name)]
public sealed class TokenizerTests(TokenizerModels models, ITestOutputHelper output)
{
    public static TheoryData<string> VariantData() => LlamaCppAgreementTests.VariantData();

    [Theory]
    [MemberData(nameof(VariantData))]
    public void Decode_of_encode_returns_the_text_for_random_unicode(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var rng = new DeterministicRandom(DeterministicRandom.Hash("roundtrip-" + variant));
        for (int i = 0; i < 1000; i++)
        {
            string text = RandomText.Next(ref rng, 1 + i % 25);
            // SentencePiece writes a space as '▁', so a literal '▁' comes back as a space (as in llama.cpp).
            if (tokenizer.Kind == TokenizerKind.SentencePiece) text = text.Replace('\u2581', '_');
            var ids = tokenizer.Encode(text);
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }

    [Theory]
    [InlineData("spm")]
    [InlineData("bpe-llama3")]
    public void Lone_surrogates_encode_as_the_replacement_character(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        Assert.Equal(tokenizer.Encode("a\uFFFDb"), tokenizer.Encode("a\uD800b"));
        Assert.Equal("a\uFFFDb", tokenizer.Decode(tokenizer.Encode("a\uDC00b")));
    }

    [Theory]
    [InlineData("spm")]
    [InlineData("bpe-llama3")]
    public void Bos_is_added_as_the_model_says_and_eos_is_not(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        Assert.True(tokenizer.AddBosToken);
        Assert.False(tokenizer.AddEosToken);
        var with = tokenizer.Encode("Hello world");
        var without = tokenizer.Encode("Hello world", addBos: false);
        Assert.Equal(tokenizer.BosId, with[0]);
        Assert.Equal(without, with[1..]);
        Assert.Equal([tokenizer.BosId], tokenizer.Encode(""));
        Assert.Empty(tokenizer.Encode("", addBos: false));
    }

    [Theory]
    [InlineData("spm", "<s>", "</s>")]
    [InlineData("bpe-llama3", "<|begin_of_text|>", "<|end_of_text|>")]
    public void Control_token_text_maps_to_the_token_only_with_parse_special(string variant, string bos, string eos)
    {
        var tokenizer = models.Tokenizer(variant);
        var parsed = tokenizer.Encode($"{bos}Hi{eos}", addBos: false, parseSpecial: true);
        Assert.Equal(tokenizer.BosId, parsed[0]);
        Assert.Equal(tokenizer.EosId, parsed[^1]);
        Assert.True(tokenizer.IsControl(parsed[0]));
        Assert.True(tokenizer.IsEndOfGeneration(tokenizer.EosId));

        var literal = tokenizer.Encode($"{bos}Hi{eos}", addBos: false, parseSpecial: false);
        Assert.DoesNotContain(tokenizer.BosId, literal);
        Assert.DoesNotContain(tokenizer.EosId, literal);
        Assert.Equal($"{bos}Hi{eos}", tokenizer.Decode(literal));
    }

    [Theory]
    [InlineData("spm-rich")]
    [InlineData("bpe-llama3-rich")]
    public void User_defined_tokens_are_matched_even_without_parse_special(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        Assert.True(tokenizer.TryGetTokenId("<tool>", out int tool));
        Assert.Equal(TokenType.UserDefined, tokenizer.GetTokenType(tool));
        Assert.Contains(tool, tokenizer.Encode("call <tool> now", parseSpecial: false));
        Assert.True(tokenizer.TryGetTokenId("<|eot_id|>", out int eot));
        Assert.True(tokenizer.IsEndOfGeneration(eot));
    }

    [Theory]
    [InlineData("spm", "<s>")]
    [InlineData("bpe-llama3", "<|begin_of_text|>")]
    public void Decode_hides_or_renders_control_tokens(string variant, string bosText)
    {
        var tokenizer = models.Tokenizer(variant);
        var ids = tokenizer.Encode("Hello").Append(tokenizer.EosId).ToArray();
        Assert.Equal("Hello", tokenizer.Decode(ids));
        string rendered = tokenizer.Decode(ids, renderSpecial: true);
        Assert.StartsWith(bosText, rendered);
        Assert.EndsWith(tokenizer.TokenText(tokenizer.EosId), rendered);
        Assert.Contains("Hello", rendered);
    }

    [Theory]
    [InlineData("spm")]
    [InlineData("bpe-llama3")]
    public void Decode_rejects_ids_outside_the_vocabulary(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([5, tokenizer.VocabSize]));
        Assert.Contains($"{tokenizer.VocabSize}", ex.Message);
        Assert.Contains("outside the vocabulary", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.Decode([-1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.TokenText(-7));
        Assert.Throws<ArgumentOutOfRangeException>(() => tokenizer.CreateStreamDecoder().Append(tokenizer.VocabSize + 3));
    }

    [Theory]
    [MemberData(nameof(VariantData))]
    public void Streaming_deltas_add_up_to_the_whole_decode(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var rng = new DeterministicRandom(DeterministicRandom.Hash("stream-" + variant));
        for (int i = 0; i < 300; i++)
        {
            string text = RandomText.Next(ref rng, 1 + i % 15);
            var ids = tokenizer.Encode(text, addBos: false);
            foreach (bool renderSpecial in new[] { false, true })
            {
                var decoder = tokenizer.CreateStreamDecoder(renderSpecial);
                var sb = new StringBuilder();
                foreach (int id in ids) sb.Append(decoder.Append(id));
                sb.Append(decoder.Flush());
                Assert.Equal(tokenizer.Decode(ids, renderSpecial, stripSpacePrefix: false), sb.ToString());
            }
        }
    }

    [Theory]
    [InlineData("spm")]
    [InlineData("bpe-llama3")]
    public void Streaming_holds_back_a_character_split_over_byte_tokens(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        // The plain vocabularies know no multi-byte character: each of its bytes is its own token.
        var ids = tokenizer.Encode("€😀", addBos: false);
        Assert.Equal(3 + 4 + (tokenizer.Kind == TokenizerKind.SentencePiece ? 1 : 0), ids.Length);
        var decoder = tokenizer.CreateStreamDecoder();
        var deltas = ids.Select(decoder.Append).ToList();
        Assert.Equal(string.Concat(deltas), tokenizer.Decode(ids, renderSpecial: false, stripSpacePrefix: false));
        Assert.All(deltas.Where(d => d.Length > 0), d => Assert.DoesNotContain('\uFFFD', d));
        Assert.Equal(2, deltas.Count(d => d.Contains('€') || d.Contains("😀")));
        Assert.Equal("", decoder.Flush());
    }

    [Theory]
    [InlineData("spm")]
    [InlineData("bpe-llama3")]
    public void Streaming_flush_turns_an_unfinished_character_into_a_replacement(string variant)
    {
        var tokenizer = models.Tokenizer(variant);
        var ids = tokenizer.Encode("😀", addBos: false);
        var decoder = tokenizer.CreateStreamDecoder();
        // SentencePiece starts with the '▁' token (a space), then the emoji's four byte tokens.
        string beforeLastByte = string.Concat(ids[..^1].Select(decoder.Append));
        Assert.Equal(tokenizer.Kind == TokenizerKind.SentencePiece ? " " : "", beforeLastByte);
        Assert.Equal("\uFFFD", decoder.Flush());
        decoder.Reset();
        Assert.Equal("😀", string.Concat(ids.Select(decoder.Append)).TrimStart());
    }

    [Fact]
    public void Streaming_can_strip_the_sentencepiece_space_prefix_of_a_whole_sequence()
    {
        var tokenizer = models.Tokenizer("spm");
        var ids = tokenizer.Encode("Hello world");
        var decoder = tokenizer.CreateStreamDecoder(stripSpacePrefix: true);
        Assert.Equal("Hello world", string.Concat(ids.Select(decoder.Append)) + decoder.Flush());
        var continuation = tokenizer.CreateStreamDecoder();
        Assert.Equal(" Hello world", string.Concat(ids.Select(continuation.Append)));
    }

    // ---------------------------------------------------------------- bad vocabularies

    private static Dictionary<string, GgufValue> ValidSpm()
    {
        var vocab = SyntheticVocabulary.Build(SyntheticVocabularyKind.SentencePiece, 300);
        return new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = new(GgufValueType.String, "llama"),
            ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, vocab.Tokens, GgufValueType.String),
            ["tokenizer.ggml.scores"] = new(GgufValueType.Array, vocab.Scores, GgufValueType.Float32),
            ["tokenizer.ggml.token_type"] = new(GgufValueType.Array, vocab.TokenTypes, GgufValueType.Int32),
            ["tokenizer.ggml.bos_token_id"] = new(GgufValueType.UInt32, 1u),
            ["tokenizer.ggml.eos_token_id"] = new(GgufValueType.UInt32, 2u),
        };
    }

    private static string Fails(Dictionary<string, GgufValue> md) =>
        Assert.Throws<ModelFormatException>(() => Tokenizer.FromMetadata(md, "bad.gguf")).Message;

    [Fact]
    public void A_valid_metadata_dictionary_builds()
    {
        var t = Tokenizer.FromMetadata(ValidSpm());
        Assert.Equal(300, t.VocabSize);
        Assert.Equal(0, t.UnknownId);
    }

    [Fact]
    public void Scores_of_the_wrong_length_name_the_key_and_both_lengths()
    {
        var md = ValidSpm();
        md["tokenizer.ggml.scores"] = new(GgufValueType.Array, new float[299], GgufValueType.Float32);
        string m = Fails(md);
        Assert.Contains("tokenizer.ggml.scores", m);
        Assert.Contains("299", m);
        Assert.Contains("300", m);
        Assert.StartsWith("bad.gguf", m);
    }

    [Fact]
    public void Token_types_of_the_wrong_length_or_type_are_rejected()
    {
        var md = ValidSpm();
        md["tokenizer.ggml.token_type"] = new(GgufValueType.Array, new int[301], GgufValueType.Int32);
        Assert.Contains("301", Fails(md));
        md["tokenizer.ggml.token_type"] = new(GgufValueType.Array, new float[300], GgufValueType.Float32);
        Assert.Contains("tokenizer.ggml.token_type", Fails(md));
    }

    [Fact]
    public void A_bos_id_outside_the_vocabulary_names_the_key_and_value()
    {
        var md = ValidSpm();
        md["tokenizer.ggml.bos_token_id"] = new(GgufValueType.UInt32, 300u);
        string m = Fails(md);
        Assert.Contains("tokenizer.ggml.bos_token_id", m);
        Assert.Contains("= 300", m);
        Assert.Contains("300 tokens", m);
    }

    [Fact]
    public void An_unknown_model_name_is_rejected_with_the_name()
    {
        var md = ValidSpm();
        md["tokenizer.ggml.model"] = new(GgufValueType.String, "wordpiece-ish");
        string m = Fails(md);
        Assert.Contains("tokenizer.ggml.model", m);
        Assert.Contains("wordpiece-ish", m);
    }

    [Fact]
    public void Missing_tokens_or_model_are_rejected()
    {
        var md = ValidSpm();
        md.Remove("tokenizer.ggml.tokens");
        Assert.Contains("tokenizer.ggml.tokens", Fails(md));
        md = ValidSpm();
        md.Remove("tokenizer.ggml.model");
        Assert.Contains("tokenizer.ggml.model", Fails(md));
    }

    [Fact]
    public void A_gpt2_vocabulary_needs_merges_and_a_known_pre_tokenizer()
    {
        var vocab = SyntheticVocabulary.Build(SyntheticVocabularyKind.Gpt2Bpe, 400);
        var md = new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = new(GgufValueType.String, "gpt2"),
            ["tokenizer.ggml.pre"] = new(GgufValueType.String, "llama-bpe"),
            ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, vocab.Tokens, GgufValueType.String),
            ["tokenizer.ggml.token_type"] = new(GgufValueType.Array, vocab.TokenTypes, GgufValueType.Int32),
            ["tokenizer.ggml.bos_token_id"] = new(GgufValueType.UInt32, (uint)vocab.BosId),
            ["tokenizer.ggml.eos_token_id"] = new(GgufValueType.UInt32, (uint)vocab.EosId),
        };
        Assert.Contains("tokenizer.ggml.merges", Fails(md));
        md["tokenizer.ggml.merges"] = new(GgufValueType.Array, vocab.Merges!, GgufValueType.String);
        Assert.Equal(PreTokenizerKind.Llama3, Tokenizer.FromMetadata(md).PreTokenizer);
        md["tokenizer.ggml.pre"] = new(GgufValueType.String, "made-up-pre");
        string m = Fails(md);
        Assert.Contains("tokenizer.ggml.pre", m);
        Assert.Contains("made-up-pre", m);
        md["tokenizer.ggml.pre"] = new(GgufValueType.String, "gpt-2");
        md["tokenizer.ggml.merges"] = new(GgufValueType.Array, new[] { "Ġt" }, GgufValueType.String);
        Assert.Contains("tokenizer.ggml.merges", Fails(md));
    }

    [Fact]
    public void Duplicate_tokens_name_both_ids()
    {
        var md = ValidSpm();
        var tokens = (string[])((string[])md["tokenizer.ggml.tokens"].Value).Clone();
        tokens[299] = tokens[280];
        md["tokenizer.ggml.tokens"] = new(GgufValueType.Array, tokens, GgufValueType.String);
        string m = Fails(md);
        Assert.Contains("280", m);
        Assert.Contains("299", m);
    }

    [Fact]
    public void Add_bos_without_a_bos_id_or_its_default_is_rejected()
    {
        // llama.cpp's GPT-2 default BOS is token 11: a vocabulary of 8 tokens has none.
        string[] tokens = ["a", "b", "c", "d", "e", "f", "g", "h"];
        var md = new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = new(GgufValueType.String, "gpt2"),
            ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, tokens, GgufValueType.String),
            ["tokenizer.ggml.merges"] = new(GgufValueType.Array, new[] { "a b" }, GgufValueType.String),
            ["tokenizer.ggml.add_bos_token"] = new(GgufValueType.Bool, true),
        };
        Assert.Contains("tokenizer.ggml.bos_token_id", Fails(md));
    }

    [Fact]
    public void Gpt2_vocabulary_without_bos_and_eos_ids_takes_llama_cpps_default_token_11()
    {
        var vocab = SyntheticVocabulary.Build(SyntheticVocabularyKind.Gpt2Bpe, 400);
        var md = new Dictionary<string, GgufValue>
        {
            ["tokenizer.ggml.model"] = new(GgufValueType.String, "gpt2"),
            ["tokenizer.ggml.tokens"] = new(GgufValueType.Array, vocab.Tokens, GgufValueType.String),
            ["tokenizer.ggml.merges"] = new(GgufValueType.Array, vocab.Merges!, GgufValueType.String),
        };
        var tokenizer = Tokenizer.FromMetadata(md);
        Assert.Equal(11, tokenizer.BosId);
        Assert.Equal(11, tokenizer.EosId);
        Assert.Contains(11, tokenizer.EndOfGenerationIds);
    }
}
