using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Server;

/// <summary>Non-streamed answers: every choice generated to the end, then one JSON body.</summary>
public static partial class OpenAiServer
{
    /// <summary>One choice generated to the end: its text, and its tokens with their log-probabilities.</summary>
    private sealed record Choice(string Text, int[] Ids, float[]? LogProbs, TokenLogProb[][]? Top, GenerationCompleted Done);

    private static async Task<Choice> Collect((IAsyncEnumerable<TokenChunk> Chunks, Task<GenerationCompleted> Completion) started)
    {
        // Read the chunks (not GenerateAsync) to keep their log-probabilities.
        var (stream, completion) = started;
        var text = new StringBuilder();
        var ids = new List<int>();
        var logProbs = new List<float>();
        var top = new List<TokenLogProb[]>();
        await foreach (var chunk in stream)
        {
            text.Append(chunk.Text);
            ids.AddRange(chunk.TokenIds);
            if (chunk.LogProbs is { } lp) logProbs.AddRange(lp);
            if (chunk.TopLogProbs is { } t) top.AddRange(t);
        }
        var done = await completion;
        return new Choice(text.ToString(), ids.ToArray(), logProbs.ToArray(), top.Count > 0 ? top.ToArray() : null, done);
    }

    private static async Task Whole(HttpContext ctx, LlmRuntime runtime, IReadOnlyList<Generate> requests, string model, bool chat, ServerSettings settings)
    {
        // One failing choice cancels the others, so no sequence runs on for an answer nobody gets.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        var tasks = StartChoices(runtime, requests, cancel.Token).Select(Collect).ToList();
        Choice[] choices;
        try
        {
            choices = await Task.WhenAll(tasks.Select(async t =>
            {
                try { return await t; }
                catch { await cancel.CancelAsync(); throw; }
            }));
        }
        catch (GenerationRejectedException ex)
        {
            await Rejected(ctx, ex.Rejected, settings);
            return;
        }
        catch (OperationCanceledException)
        {
            var rejected = tasks.Where(t => t.IsFaulted).Select(t => t.Exception!.InnerException).OfType<GenerationRejectedException>().FirstOrDefault();
            if (rejected is not null) await Rejected(ctx, rejected.Rejected, settings);
            return; // otherwise the client went away; the requests were cancelled
        }
        if (choices.FirstOrDefault(c => c.Done.Reason == FinishReason.Error) is { } failed)
        {
            await Error(ctx, 500, failed.Done.Error ?? "generation failed", "server_error", null);
            return;
        }
        RequestLog.Finished(ctx, requests[0].RequestId, choices.Select(c => c.Done).ToList());
        ctx.Response.ContentType = "application/json";
        using var w = new Utf8JsonWriter(ctx.Response.BodyWriter.AsStream());
        w.WriteStartObject();
        w.WriteString("id", requests[0].RequestId);
        w.WriteString("object", chat ? "chat.completion" : "text_completion");
        w.WriteNumber("created", DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        w.WriteString("model", model);
        w.WriteStartArray("choices");
        for (int i = 0; i < choices.Length; i++)
        {
            var choice = choices[i];
            w.WriteStartObject();
            w.WriteNumber("index", i);
            if (chat)
            {
                w.WriteStartObject("message");
                w.WriteString("role", "assistant");
                w.WriteString("content", choice.Text);
                w.WriteEndObject();
            }
            else w.WriteString("text", choice.Text);
            WriteLogProbs(w, new LogProbsJson(runtime.Tokenizer), requests[i], chat, choice.Ids, choice.LogProbs, choice.Top);
            w.WriteString("finish_reason", FinishName(choice.Done.Reason));
            w.WriteEndObject();
        }
        w.WriteEndArray();
        WriteUsage(w, TotalUsage(choices.Select(c => c.Done.Usage)));
        w.WriteEndObject();
        await w.FlushAsync();
    }

    /// <summary>The choices share one prompt: it counts once (as OpenAI counts it), their completions add up.</summary>
    private static Usage TotalUsage(IEnumerable<Usage> usages)
    {
        var all = usages.ToList();
        return new Usage(all[0].PromptTokens, all.Sum(u => u.CompletionTokens), all[0].CachedPromptTokens);
    }

    private static void WriteLogProbs(Utf8JsonWriter w, LogProbsJson json, Generate request, bool chat, int[] ids, float[]? logProbs, TokenLogProb[][]? top)
    {
        if (!request.Sampling.LogProbs || logProbs is null || logProbs.Length != ids.Length)
        {
            w.WriteNull("logprobs");
            return;
        }
        if (top is not null && top.Length != ids.Length) top = null;
        if (chat) json.WriteChat(w, ids, logProbs, top);
        else json.WriteCompletion(w, ids, logProbs, top);
    }
}
