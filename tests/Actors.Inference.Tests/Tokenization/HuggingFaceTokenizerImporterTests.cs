using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;

namespace Actors.Inference.Tests.Tokenization;

/// <summary>The importer on small hand-written tokenizer.json files (the real ones are in RealVocabularyParityTests).</summary>
public sealed class HuggingFaceTokenizerImporterTests
{
    private static string Write(string json)
    {
        string path = Path.Combine(Path.GetTempPath(), $"tok-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private const string Bpe = """
        {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġ": 3}, "merges": [["a", "b"]]},
         "added_tokens": [{"id": 5, "content": "<|end|>", "special": true}, {"id": 6, "content": "<think>", "special": false}],
         "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}}, {"type": "ByteLevel"}]}}
        """;

    [Fact]
    public void Byte_level_bpe_is_written_as_llama_cpps_converter_writes_it()
    {
        string tok = Write(Bpe), cfg = Write("""{"eos_token": "<|end|>", "add_bos_token": false, "chat_template": "{{ messages }}"}""");
        try
        {
            var v = HuggingFaceTokenizerImporter.Read(tok, cfg);
            Assert.Equal("gpt2", v.Model);
            Assert.Equal("qwen2", v.Pre);
            Assert.Equal(["a", "b", "ab", "Ġ", "[PAD4]", "<|end|>", "<think>"], v.Tokens);
            Assert.Equal([1, 1, 1, 1, (int)TokenType.Unused, (int)TokenType.Control, (int)TokenType.UserDefined], v.TokenTypes);
            Assert.Equal(["a b"], v.Merges);
            Assert.Null(v.Scores);
            Assert.Equal(5, v.SpecialIds["eos"]);
            Assert.False(v.AddBos);
            Assert.Equal("{{ messages }}", v.ChatTemplate);
        }
        finally { File.Delete(tok); File.Delete(cfg); }
    }

    [Fact]
    public void Sentencepiece_style_bpe_gets_scores_from_merge_ranks_and_byte_and_unknown_types()
    {
        string tok = Write("""
            {"model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "▁": 4, "a": 5, "▁a": 6, "aa": 7, "▁aa": 8},
              "merges": ["a a", "▁ a", "▁a a", "▁ aa"]},
             "added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}, {"id": 9, "content": "▁▁", "special": false}],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]}}
            """);
        try
        {
            var v = HuggingFaceTokenizerImporter.Read(tok);
            Assert.Equal("llama", v.Model);
            Assert.Equal([(int)TokenType.Unknown, 3, 3, (int)TokenType.Byte, 1, 1, 1, 1, 1, (int)TokenType.UserDefined], v.TokenTypes);
            Assert.Equal("  ", v.Tokens[9]); // user-defined spaces as real spaces, as the converter writes them
            Assert.Equal([0f, 0f, 0f, 0f, 0f, 0f, -1f, 0f, -2f], v.Scores!.Take(9)); // "aa" rank 0, "▁a" rank 1, "▁aa" first built at rank 2
            Assert.True(v.AddSpacePrefix);
            Assert.True(v.AddBos);
            Assert.False(v.AddEos);
            Assert.Equal(1, v.SpecialIds["bos"]);
            Assert.Equal(0, v.SpecialIds["unk"]);
        }
        finally { File.Delete(tok); }
    }

    [Fact]
    public void Make_model_sizes_the_embedding_to_the_imported_vocabulary()
    {
        string tok = Write(Bpe), path = Path.Combine(Path.GetTempPath(), $"hf-{Guid.NewGuid():N}.gguf");
        try
        {
            var v = HuggingFaceTokenizerImporter.Read(tok);
            SyntheticModelGenerator.Write(path, new SyntheticModelSpec { Dim = 32, Heads = 2, KvHeads = 1, Ffn = 64, Layers = 1, Vocab = v.VocabSize, ImportedVocabulary = v });
            using var file = GgufFile.Open(path);
            Assert.Equal(7, file.Tensors.Single(t => t.Name == "token_embd.weight").Dims[1]);
            Assert.Equal(7, Tokenizer.FromGguf(file).VocabSize);
            var mismatch = new SyntheticModelSpec { Vocab = 512, ImportedVocabulary = v };
            Assert.Contains("differs from the imported vocabulary's 7 tokens", Assert.Throws<ArgumentException>(mismatch.Validate).Message);
        }
        finally { File.Delete(tok); File.Delete(path); }
    }

    [Fact]
    public void An_unknown_pre_tokenizer_regex_is_an_error_naming_it()
    {
        string tok = Write(Bpe.Replace("\\\\p{N}|", "\\\\p{N}{1,5}|"));
        try
        {
            var ex = Assert.Throws<ModelFormatException>(() => HuggingFaceTokenizerImporter.Read(tok));
            Assert.Contains("pre_tokenizer split regex", ex.Message);
            Assert.Contains("\\p{N}{1,5}", ex.Message);
        }
        finally { File.Delete(tok); }
    }
}
