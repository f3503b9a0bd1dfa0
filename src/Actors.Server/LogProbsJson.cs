using System.Text;
using System.Text.Json;
using Actors.Inference.Tokenization;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>
/// Writes the runtime's per-token log-probabilities as OpenAI's "logprobs" objects: chat's
/// {"content": [{token, logprob, bytes, top_logprobs}], "refusal": null} and completions'
/// {tokens, token_logprobs, top_logprobs, text_offset}. A token's string is its bytes decoded as UTF-8
/// (a token holding part of a character shows U+FFFD; its bytes are exact, as OpenAI returns them).
/// One instance per response: text_offset runs on across the chunks of a stream.
/// </summary>
internal sealed class LogProbsJson(Tokenizer tokenizer)
{
    // Decodes the tokens' bytes as they come, so a character split over tokens counts once it is complete.
    private readonly Decoder _offsets = new UTF8Encoding(false, false).GetDecoder();
    private int _textOffset;
    private char[] _chars = new char[64];

    public void WriteChat(Utf8JsonWriter w, ReadOnlySpan<int> ids, float[] logProbs, TokenLogProb[][]? top)
    {
        w.WriteStartObject("logprobs");
        w.WriteStartArray("content");
        for (int i = 0; i < ids.Length; i++)
        {
            w.WriteStartObject();
            WriteToken(w, ids[i], logProbs[i]);
            w.WriteStartArray("top_logprobs");
            if (top is not null)
                foreach (var alt in top[i])
                {
                    w.WriteStartObject();
                    WriteToken(w, alt.TokenId, alt.LogProb);
                    w.WriteEndObject();
                }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("refusal");
        w.WriteEndObject();
    }

    public void WriteCompletion(Utf8JsonWriter w, ReadOnlySpan<int> ids, float[] logProbs, TokenLogProb[][]? top)
    {
        w.WriteStartObject("logprobs");
        w.WriteStartArray("tokens");
        foreach (int id in ids) w.WriteStringValue(TokenString(id));
        w.WriteEndArray();
        w.WriteStartArray("token_logprobs");
        for (int i = 0; i < ids.Length; i++) w.WriteNumberValue(logProbs[i]);
        w.WriteEndArray();
        w.WriteStartArray("top_logprobs");
        for (int i = 0; i < ids.Length; i++)
        {
            w.WriteStartObject();
            // An object keyed by token string: two ids with the same string keep the more likely (listed first).
            var seen = new HashSet<string>();
            if (top is not null)
                foreach (var alt in top[i])
                    if (seen.Add(TokenString(alt.TokenId))) w.WriteNumber(TokenString(alt.TokenId), alt.LogProb);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("text_offset");
        foreach (int id in ids)
        {
            w.WriteNumberValue(_textOffset);
            var bytes = tokenizer.TokenBytes(id);
            if (_chars.Length < bytes.Length + 4) _chars = new char[bytes.Length + 4];
            _textOffset += _offsets.GetChars(bytes, _chars, flush: false);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private void WriteToken(Utf8JsonWriter w, int id, float logProb)
    {
        w.WriteString("token", TokenString(id));
        w.WriteNumber("logprob", logProb);
        w.WriteStartArray("bytes");
        foreach (byte b in tokenizer.TokenBytes(id)) w.WriteNumberValue(b);
        w.WriteEndArray();
    }

    private string TokenString(int id) => Encoding.UTF8.GetString(tokenizer.TokenBytes(id));
}
