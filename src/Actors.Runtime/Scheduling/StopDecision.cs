using Actors.Runtime.Protocol;

namespace Actors.Runtime.Scheduling;

/// <summary>
/// A sequence's text as it is generated: appends one token's text and says whether a stop string
/// has completed. Implemented by the runtime's per-request stream (incremental detokenizer and stop
/// matcher); called only from <see cref="StopDecision"/>, once per appended token that did not stop
/// on its id.
/// </summary>
public interface ISequenceOutput
{
    /// <summary>Appends <paramref name="token"/>'s text; true when the text now holds a stop string (nothing after it is emitted).</summary>
    bool AppendToken(int token);
}

/// <summary>
/// The one place a sequence's end is decided after a token is sampled, in this order: a stop token
/// the caller gave; end of sequence or any end-of-generation token of the vocabulary (unless
/// ignore-eos); a stop string completed by the token's text; max new tokens. The token that stops
/// is the last one appended: nothing is emitted past it.
/// </summary>
public static class StopDecision
{
    /// <summary>Why the sequence ends with <paramref name="token"/> as its <paramref name="generated"/>-th new token, or null to go on.</summary>
    public static FinishReason? Decide(SequenceRequest request, int token, int generated)
    {
        if (Array.IndexOf(request.StopTokenIds, token) >= 0) return FinishReason.Stop;
        if (!request.IgnoreEos && (request.EosTokenId == token || Array.IndexOf(request.EndOfGenerationIds, token) >= 0)) return FinishReason.Stop;
        if (request.Output?.AppendToken(token) == true) return FinishReason.Stop;
        if (generated >= request.MaxNewTokens) return FinishReason.Length;
        return null;
    }
}
