namespace Actors.Inference.Tokenization;

/// <summary>
/// Which tokens end generation, decided as llama.cpp decides it when it loads a vocabulary
/// (llama-vocab.cpp, <c>llama_vocab::impl::load</c>): the file's EOS, EOT and EOM ids, the fill-in-the-middle
/// pad/repo/file-separator tokens, and every token whose text is one of a list of end-of-turn spellings.
/// llama.cpp also makes each of those a control token (so it matches only with parse_special and decodes
/// to nothing unless special tokens are rendered), and the same happens to the types here.
/// </summary>
public static class EndOfGenerationRules
{
    /// <summary>End-of-turn spellings llama.cpp stops at whatever the file says.</summary>
    public static readonly IReadOnlySet<string> Texts = new HashSet<string>(StringComparer.Ordinal)
    {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    };

    // Fill-in-the-middle tokens: all become control; pad, repo and file separator also end generation.
    private static readonly string[][] FimGroups =
    [
        ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<PRE>", "<|code_prefix|>", "<|prefix|>"],
        ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<SUF>", "<|code_suffix|>", "<|suffix|>"],
        ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<MID>", "<|code_middle|>", "<|middle|>"],
    ];
    private static readonly string[][] FimEndGroups =
    [
        ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"],
        ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"],
        ["<|file_sep|>"],
    ];

    /// <summary>
    /// The end-of-generation ids, ascending; <paramref name="types"/> is updated as llama.cpp updates the
    /// token attributes. <paramref name="eos"/>, <paramref name="eot"/>, <paramref name="eom"/>: -1 when absent.
    /// </summary>
    public static int[] Resolve(string[] tokens, TokenType[] types, int eos, int eot, int eom)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Length; i++) ids.TryAdd(tokens[i], i);

        var eog = new SortedSet<int>();
        foreach (var group in FimGroups) FirstOf(group, ids, types);
        foreach (var group in FimEndGroups)
            if (FirstOf(group, ids, types) is int id and >= 0) eog.Add(id);
        foreach (var text in Texts)
            if (ids.TryGetValue(text, out int id)) { eog.Add(id); MakeControl(types, id); }
        foreach (int id in new[] { eos, eot, eom })
            if (id >= 0) eog.Add(id);

        // gpt-oss style vocabularies (<|return|> and <|call|>, or <|calls|> and <|flush|>): "<|end|>" ends a
        // message, not the generation.
        bool Has(string text) => ids.TryGetValue(text, out int id) && eog.Contains(id);
        if (Has("<|end|>") && ((Has("<|return|>") && Has("<|call|>")) || (Has("<|calls|>") && Has("<|flush|>"))))
        {
            eog.Remove(ids["<|end|>"]);
            types[ids["<|end|>"]] = TokenType.UserDefined;
        }
        // Gemma 4 style vocabularies (with <|tool_response>): "</s>" is text.
        if (Has("<|tool_response>") && Has("</s>"))
        {
            eog.Remove(ids["</s>"]);
            types[ids["</s>"]] = TokenType.Normal;
        }
        // gpt-oss: these are always rendered.
        foreach (var text in new[] { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>" })
            if (ids.TryGetValue(text, out int id)) types[id] = TokenType.UserDefined;
        return eog.ToArray();
    }

    private static int FirstOf(string[] group, Dictionary<string, int> ids, TokenType[] types)
    {
        foreach (var text in group)
            if (ids.TryGetValue(text, out int id)) { MakeControl(types, id); return id; }
        return -1;
    }

    private static void MakeControl(TokenType[] types, int id)
    {
        if (types[id] != TokenType.Control) types[id] = TokenType.Control;
    }
}
