using System.Text;
using Actors.Inference.Tokenization;

namespace Actors.Server;

/// <summary>
/// Turns chat messages into a prompt the model was trained on. GGUF carries a Jinja template; rather
/// than a Jinja engine, the formats of the families this runtime serves are recognised from the
/// vocabulary's special tokens (Llama 3 headers, ChatML, Llama 2 [INST]) with a plain "role: text"
/// fallback for models that have none (the generated test models).
/// </summary>
public sealed class ChatTemplate
{
    public enum Family { Llama3, ChatMl, Llama2, Plain }

    public Family Kind { get; }

    public ChatTemplate(Tokenizer tokenizer)
    {
        Kind = tokenizer.TryGetTokenId("<|start_header_id|>", out _) ? Family.Llama3
            : tokenizer.TryGetTokenId("<|im_start|>", out _) ? Family.ChatMl
            : tokenizer.TryGetTokenId("[INST]", out _) ? Family.Llama2
            : Family.Plain;
    }

    /// <summary>The prompt text; special tokens in it are parsed as such when the prompt is tokenized.</summary>
    public string Render(IReadOnlyList<ChatMessage> messages)
    {
        var sb = new StringBuilder();
        switch (Kind)
        {
            case Family.Llama3:
                foreach (var m in messages) sb.Append("<|start_header_id|>").Append(m.Role).Append("<|end_header_id|>\n\n").Append(m.Text.Trim()).Append("<|eot_id|>");
                sb.Append("<|start_header_id|>assistant<|end_header_id|>\n\n");
                break;
            case Family.ChatMl:
                foreach (var m in messages) sb.Append("<|im_start|>").Append(m.Role).Append('\n').Append(m.Text).Append("<|im_end|>\n");
                sb.Append("<|im_start|>assistant\n");
                break;
            case Family.Llama2:
                string? system = messages.FirstOrDefault(m => m.Role == "system")?.Text;
                bool first = true;
                foreach (var m in messages.Where(m => m.Role != "system"))
                {
                    if (m.Role == "user")
                    {
                        sb.Append("[INST] ");
                        if (first && system != null) sb.Append("<<SYS>>\n").Append(system).Append("\n<</SYS>>\n\n");
                        sb.Append(m.Text.Trim()).Append(" [/INST]");
                        first = false;
                    }
                    else sb.Append(' ').Append(m.Text.Trim()).Append(" </s><s>");
                }
                break;
            default:
                foreach (var m in messages) sb.Append(m.Role).Append(": ").Append(m.Text).Append('\n');
                sb.Append("assistant:");
                break;
        }
        return sb.ToString();
    }
}
