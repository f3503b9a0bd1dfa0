using System.Runtime.CompilerServices;
using System.Threading.Channels;

namespace Actors.Runtime.Protocol;

/// <summary>
/// Reading one request's chunk channel and final outcome, for every front door (the local runtime, a
/// cluster gateway): a reader that stops early or is cancelled cancels the request through
/// <paramref name="cancel"/>-style callbacks, so no request outlives its reader.
/// </summary>
public static class GenerationChannel
{
    /// <summary>The chunks as they come; breaking out early or cancelling calls <paramref name="cancelRequest"/>.</summary>
    public static async IAsyncEnumerable<TokenChunk> Read(ChannelReader<TokenChunk> reader, Action cancelRequest, [EnumeratorCancellation] CancellationToken cancel)
    {
        bool finished = false;
        try
        {
            await foreach (var chunk in reader.ReadAllAsync(cancel)) yield return chunk;
            finished = true;
        }
        finally
        {
            if (!finished) cancelRequest();
        }
    }

    /// <summary>Everything to the end: text, token ids and the final message; a rejection throws <see cref="GenerationRejectedException"/>.</summary>
    public static async Task<GenerationResult> Collect(ChannelReader<TokenChunk> reader, TaskCompletionSource<object> outcome, Action cancelRequest, CancellationToken cancel)
    {
        var text = new System.Text.StringBuilder();
        var tokens = new List<int>();
        try
        {
            await foreach (var chunk in reader.ReadAllAsync(cancel))
            {
                text.Append(chunk.Text);
                tokens.AddRange(chunk.TokenIds);
            }
        }
        catch (OperationCanceledException)
        {
            cancelRequest();
            throw;
        }
        var final = await outcome.Task.WaitAsync(cancel);
        return final is GenerationCompleted done ? new GenerationResult(text.ToString(), tokens, done)
            : throw new GenerationRejectedException((GenerationRejected)final);
    }
}
