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

    /// <summary>
    /// As <see cref="Collect"/>, for an unbounded channel: nothing is read until the request has ended and
    /// its writer is complete, then the chunks are drained at once, so no thread wakes for each token.
    /// </summary>
    public static async Task<GenerationResult> CollectWhenDone(ChannelReader<TokenChunk> reader, TaskCompletionSource<object> outcome, Action cancelRequest, CancellationToken cancel)
    {
        var text = new System.Text.StringBuilder();
        var tokens = new List<int>();
        object final;
        try
        {
            final = await outcome.Task.WaitAsync(cancel);
            if (final is GenerationRejected rejected) throw new GenerationRejectedException(rejected);
            // The outcome is set just before the writer completes: read until it has (usually no wait at all).
            while (await reader.WaitToReadAsync(cancel))
                while (reader.TryRead(out var chunk))
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
        return new GenerationResult(text.ToString(), tokens, (GenerationCompleted)final);
    }
}
