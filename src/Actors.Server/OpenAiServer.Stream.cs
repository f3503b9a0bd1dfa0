using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>Server-sent-event answers: each choice's chunks as they come, its finish chunk, the usage chunk if asked, [DONE].</summary>
public static partial class OpenAiServer
{
    /// <summary>
    /// Starts a request's choices: several as one group, so the runtime computes the prompt once and the
    /// choices share its KV blocks (<see cref="LlmRuntime.StreamChoicesWithCompletion"/>).
    /// </summary>
    private static IReadOnlyList<(IAsyncEnumerable<TokenChunk> Chunks, Task<GenerationCompleted> Completion)> StartChoices(
        LlmRuntime runtime, IReadOnlyList<Generate> requests, CancellationToken cancel) =>
        requests.Count == 1 ? [runtime.StreamWithCompletion(requests[0], cancel)] : runtime.StreamChoicesWithCompletion(requests, cancel);

    private static async Task Stream(HttpContext ctx, LlmRuntime runtime, IReadOnlyList<Generate> requests, string model, bool chat, ServerSettings settings, bool includeUsage)
    {
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        var started = StartChoices(runtime, requests, cancel.Token);
        var readers = started.Select(s => s.Chunks.GetAsyncEnumerator(cancel.Token)).ToList();
        try
        {
            // Wait for every choice's first chunk, so a rejection can still be an HTTP error rather than an event.
            var firsts = new List<bool>();
            try
            {
                foreach (var reader in readers) firsts.Add(await reader.MoveNextAsync());
            }
            catch (GenerationRejectedException ex)
            {
                await cancel.CancelAsync();
                await Rejected(ctx, ex.Rejected, settings);
                return;
            }
            catch (OperationCanceledException)
            {
                return;
            }
            ctx.Response.ContentType = "text/event-stream";
            ctx.Response.Headers.CacheControl = "no-cache";
            var head = new ChunkHead(requests[0].RequestId, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), model, chat, includeUsage);
            // Each choice is read by its own task; one writer sends their chunks in arrival order.
            var events = Channel.CreateUnbounded<string>(new() { SingleReader = true });
            var pumps = Enumerable.Range(0, requests.Count).Select(i => Pump(i, readers[i], firsts[i], started[i].Completion, requests[i], head,
                new LogProbsJson(runtime.Tokenizer), events.Writer, cancel.Token)).ToList();
            var all = Task.WhenAll(pumps).ContinueWith(_ => events.Writer.TryComplete(), TaskScheduler.Default);
            try
            {
                await foreach (var json in events.Reader.ReadAllAsync(ctx.RequestAborted)) await Event(ctx, json);
                var done = await Task.WhenAll(pumps);
                RequestLog.Finished(ctx, requests[0].RequestId, done);
                if (done.FirstOrDefault(d => d.Reason == FinishReason.Error) is { } failed)
                    await ctx.Response.WriteAsync("data: " + JsonSerializer.Serialize(new { error = new ApiError(failed.Error ?? "generation failed", "server_error", null, null) }) + "\n\n", ctx.RequestAborted);
                else if (includeUsage) await Event(ctx, UsageChunkJson(head, TotalUsage(done.Select(d => d.Usage))));
                await ctx.Response.WriteAsync("data: [DONE]\n\n", ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                // Client disconnected: cancelling the enumerations cancels the requests.
            }
            finally
            {
                await cancel.CancelAsync();
                await all;
            }
        }
        finally
        {
            foreach (var reader in readers) await reader.DisposeAsync();
        }
    }

    /// <summary>Turns one choice's chunks into events, then its finish chunk; returns its final message.</summary>
    private static async Task<GenerationCompleted> Pump(int index, IAsyncEnumerator<TokenChunk> chunks, bool hasNext, Task<GenerationCompleted> completion,
        Generate request, ChunkHead head, LogProbsJson logProbs, ChannelWriter<string> events, CancellationToken cancel)
    {
        bool first = true;
        while (hasNext)
        {
            var chunk = chunks.Current;
            await events.WriteAsync(ChunkJson(head, index, chunk.Text, first, null, w =>
                WriteLogProbs(w, logProbs, request, head.Chat, chunk.TokenIds, chunk.LogProbs, chunk.TopLogProbs)), cancel);
            first = false;
            hasNext = await chunks.MoveNextAsync();
        }
        var done = await completion;
        if (done.Reason != FinishReason.Error)
            await events.WriteAsync(ChunkJson(head, index, "", first, FinishName(done.Reason), w => w.WriteNull("logprobs")), cancel);
        return done;
    }

    private sealed record ChunkHead(string Id, long Created, string Model, bool Chat, bool IncludeUsage);

    private static void WriteHead(Utf8JsonWriter w, ChunkHead head)
    {
        w.WriteString("id", head.Id);
        w.WriteString("object", head.Chat ? "chat.completion.chunk" : "text_completion");
        w.WriteNumber("created", head.Created);
        w.WriteString("model", head.Model);
    }

    private static string ChunkJson(ChunkHead head, int index, string text, bool first, string? finish, Action<Utf8JsonWriter> writeLogProbs)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            WriteHead(w, head);
            w.WriteStartArray("choices");
            w.WriteStartObject();
            w.WriteNumber("index", index);
            if (head.Chat)
            {
                w.WriteStartObject("delta");
                if (first) w.WriteString("role", "assistant");
                if (finish is null || text.Length > 0) w.WriteString("content", text);
                w.WriteEndObject();
            }
            else w.WriteString("text", text);
            writeLogProbs(w);
            if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
            w.WriteEndObject();
            w.WriteEndArray();
            // With include_usage every chunk has "usage": null but the last, as OpenAI sends them.
            if (head.IncludeUsage) w.WriteNull("usage");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    /// <summary>stream_options.include_usage: the last chunk, with empty choices and the request's usage.</summary>
    private static string UsageChunkJson(ChunkHead head, Usage usage)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            WriteHead(w, head);
            w.WriteStartArray("choices");
            w.WriteEndArray();
            WriteUsage(w, usage);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static async Task Event(HttpContext ctx, string json)
    {
        await ctx.Response.WriteAsync("data: " + json + "\n\n", ctx.RequestAborted);
        await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
    }
}
