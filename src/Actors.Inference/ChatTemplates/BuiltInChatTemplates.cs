namespace Actors.Inference.ChatTemplates;

/// <summary>
/// Named templates for model files that carry no tokenizer.chat_template (and for `--chat-template NAME`),
/// written in the same Jinja the files use. <see cref="ForVocabulary"/> picks one from the special tokens.
/// </summary>
public static class BuiltInChatTemplates
{
    public const string ChatMl =
        "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    public const string Llama3 =
        "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    /// <summary>Llama 2 chat and Mistral v0.1 ([INST] turns, the system prompt folded into the first user turn).</summary>
    public const string Llama2 =
        "{% if messages[0]['role'] == 'system' %}{% set system = messages[0]['content'] %}{% set loop_messages = messages[1:] %}" +
        "{% else %}{% set system = '' %}{% set loop_messages = messages %}{% endif %}" +
        "{% for message in loop_messages %}" +
        "{% if message['role'] == 'user' %}{% if loop.first and system %}{% set content = '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' + message['content'] | trim %}{% else %}{% set content = message['content'] | trim %}{% endif %}" +
        "{{ bos_token + '[INST] ' + content + ' [/INST]' }}" +
        "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + eos_token }}" +
        "{% else %}{{ raise_exception('Llama 2 chat has no role ' + message['role']) }}{% endif %}{% endfor %}";

    public const string Gemma =
        "{{ bos_token }}{% for message in messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}" +
        "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

    /// <summary>"role: text" lines, for vocabularies without chat tokens (the generated test models).</summary>
    public const string Plain =
        "{% for message in messages %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    public static readonly IReadOnlyDictionary<string, string> ByName = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["chatml"] = ChatMl, ["llama3"] = Llama3, ["llama2"] = Llama2, ["mistral"] = Llama2, ["gemma"] = Gemma, ["plain"] = Plain,
    };

    /// <summary>The built-in a vocabulary's special tokens point to.</summary>
    public static string ForVocabulary(Func<string, bool> hasToken, bool sentencePiece) =>
        hasToken("<|start_header_id|>") ? "llama3"
        : hasToken("<|im_start|>") ? "chatml"
        : hasToken("<start_of_turn>") ? "gemma"
        : hasToken("[INST]") || (sentencePiece && hasToken("<s>") && hasToken("</s>") && !hasToken("<|endoftext|>")) ? "llama2"
        : "plain";
}
