using Akka.Actor;
using Actors.Runtime.Protocol;

namespace Actors.Runtime;

/// <summary>One input's embedding: unit length, <see cref="LlmRuntime.EmbeddingDimensions"/> values, and its prompt's token count.</summary>
public sealed record EmbeddingResult(float[] Vector, int PromptTokens);

/// <summary>The runtime's embedding API (see <see cref="Generate.Pooling"/>).</summary>
public sealed partial class LlmRuntime
{
    /// <summary>Length of every embedding: the model's hidden size.</summary>
    public int EmbeddingDimensions => Model.Config.EmbeddingLength;

    /// <summary>
    /// Embeds each text (tokenized with the model's BOS where it asks for one): the final-norm hidden
    /// states of its tokens pooled by <paramref name="pooling"/> and L2-normalized. Every input reaches the
    /// router in one message, so the scheduler batches them into the same steps; results are in input order.
    /// A rejected input throws <see cref="GenerationRejectedException"/>; cancelling cancels every input.
    /// </summary>
    public Task<IReadOnlyList<EmbeddingResult>> EmbedAsync(IReadOnlyList<string> inputs, EmbeddingPooling pooling = EmbeddingPooling.Mean, CancellationToken cancel = default) =>
        EmbedAsync(inputs.Select(text => new Generate { RequestId = "", Prompt = text, AddBos = true, Pooling = pooling }).ToList(), cancel);

    /// <summary>As <see cref="EmbedAsync(IReadOnlyList{string}, EmbeddingPooling, CancellationToken)"/> for token ids, used as given.</summary>
    public Task<IReadOnlyList<EmbeddingResult>> EmbedAsync(IReadOnlyList<int[]> inputs, EmbeddingPooling pooling = EmbeddingPooling.Mean, CancellationToken cancel = default) =>
        EmbedAsync(inputs.Select(tokens => new Generate { RequestId = "", PromptTokens = tokens, AddBos = false, Pooling = pooling }).ToList(), cancel);

    private async Task<IReadOnlyList<EmbeddingResult>> EmbedAsync(List<Generate> requests, CancellationToken cancel)
    {
        if (requests.Count == 0) return [];
        string batch = "embd-" + Guid.NewGuid().ToString("N");
        for (int i = 0; i < requests.Count; i++) requests[i] = requests[i] with { RequestId = $"{batch}-{i}" };
        var started = new List<Internal.StartChannelRequest>(requests.Count);
        foreach (var request in requests) started.Add(Prepare(request, double.NaN).Message);
        Router.Tell(new Internal.StartChannelRequests(started));
        try
        {
            var results = new EmbeddingResult[requests.Count];
            for (int i = 0; i < results.Length; i++)
            {
                var final = await started[i].Outcome.Task.WaitAsync(cancel);
                results[i] = final switch
                {
                    GenerationRejected rejected => throw new GenerationRejectedException(rejected),
                    GenerationCompleted { Embedding: { } vector } done => new EmbeddingResult(vector, done.Usage.PromptTokens),
                    GenerationCompleted done => throw new InvalidOperationException(
                        $"input {i} was not embedded: it ended with {done.Reason}{(done.Error is null ? "" : ": " + done.Error)}"),
                    _ => throw new InvalidOperationException($"unexpected outcome {final.GetType().Name}"),
                };
            }
            return results;
        }
        catch
        {
            foreach (var request in requests) Router.Tell(new Cancel(request.RequestId));
            throw;
        }
    }
}
