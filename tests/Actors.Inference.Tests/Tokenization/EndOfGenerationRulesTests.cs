using Actors.Inference.Tokenization;

namespace Actors.Inference.Tests.Tokenization;

/// <summary>The end-of-generation set as llama.cpp decides it when loading a vocabulary.</summary>
public sealed class EndOfGenerationRulesTests
{
    private static (int[] Eog, TokenType[] Types) Resolve(string[] tokens, int eos = -1, int eot = -1, int eom = -1, TokenType fill = TokenType.Normal)
    {
        var types = Enumerable.Repeat(fill, tokens.Length).ToArray();
        return (EndOfGenerationRules.Resolve(tokens, types, eos, eot, eom), types);
    }

    [Fact]
    public void Eos_and_every_end_of_turn_spelling_end_generation_and_become_control_tokens()
    {
        string[] tokens = ["a", "<|eot_id|>", "b", "<|im_end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<eos>", "</s>", "<|end_of_text|>"];
        var (eog, types) = Resolve(tokens, eos: 0);
        Assert.Equal([0, 1, 3, 4, 5, 6, 7, 8, 9], eog);
        Assert.All(eog.Where(id => id != 0), id => Assert.Equal(TokenType.Control, types[id]));
        Assert.Equal(TokenType.Normal, types[2]);
    }

    [Fact]
    public void File_eot_and_eom_ids_end_generation_whatever_their_text()
    {
        var (eog, _) = Resolve(["a", "b", "c", "d"], eos: 3, eot: 1, eom: 2);
        Assert.Equal([1, 2, 3], eog);
    }

    [Fact]
    public void Fill_in_the_middle_pad_repo_and_file_separator_end_generation_prefix_suffix_middle_only_become_control()
    {
        var (eog, types) = Resolve(["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "x"]);
        Assert.Equal([3, 4, 5], eog);
        Assert.All(Enumerable.Range(0, 6), id => Assert.Equal(TokenType.Control, types[id]));
    }

    [Fact]
    public void Harmony_style_vocabularies_keep_end_as_a_message_boundary_not_a_stop()
    {
        var (eog, types) = Resolve(["<|end|>", "<|return|>", "<|call|>", "<|channel|>"]);
        Assert.Equal([1, 2], eog);
        Assert.Equal(TokenType.UserDefined, types[0]);
        Assert.Equal(TokenType.UserDefined, types[3]);
    }

    [Fact]
    public void Vocabularies_with_tool_response_keep_closing_s_as_text()
    {
        var (eog, types) = Resolve(["</s>", "<|tool_response>", "<turn|>"]);
        Assert.Equal([1, 2], eog);
        Assert.Equal(TokenType.Normal, types[0]);
    }
}
