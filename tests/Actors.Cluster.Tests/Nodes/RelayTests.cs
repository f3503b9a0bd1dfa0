using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Tests.Nodes;

/// <summary>
/// Worker to gateway: a step's chunks travel as one message, a client that reads slowly pauses its request
/// on the worker after a window of chunks, and a request re-admitted after its worker is lost continues a
/// stop string and a seeded random sequence as if nothing had happened.
/// </summary>
[Collection("cluster")]
public sealed class RelayTests
{
    /// <summary>Chunks a request may have unacknowledged between worker and client (the workers' stream buffer).</summary>
    private const int Window = 8;

    private static readonly string WorkerWindow = $"actors-runtime.request.stream-buffer = {Window}";

    /// <summary>Starts a request through the gateway into a bounded channel of one chunk, as the HTTP server's stream is (bounded).</summary>
    private static (Channel<TokenChunk> Chunks, TaskCompletionSource<object> Outcome) StartBounded(ClusterNode gateway, Generate request)
    {
        var channel = Channel.CreateBounded<TokenChunk>(new BoundedChannelOptions(1) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });
        var outcome = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        ((IGenerationFrontDoor)gateway.Gateway!).Start(request, channel.Writer, outcome);
        return (channel, outcome);
    }

    private static async Task<(List<TokenChunk> Chunks, object Final)> ReadAll(Channel<TokenChunk> chunks, TaskCompletionSource<object> outcome)
    {
        var all = new List<TokenChunk>();
        await foreach (var c in chunks.Reader.ReadAllAsync().WithCancellation(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token)) all.Add(c);
        return (all, await outcome.Task.WaitAsync(TimeSpan.FromSeconds(30)));
    }

    /// <summary>Waits until the gateway has received exactly <paramref name="tokens"/> tokens from the worker, and no more come for a while.</summary>
    private static async Task WaitPaused(ClusterNode gateway, ClusterNode worker, int tokens)
    {
        async Task<long> Relayed() => (await gateway.Gateway!.TopologyAsync()).Workers.Single(w => w.Address == worker.Address.ToString()).TokensRelayed;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await Relayed() < tokens)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the worker did not send {tokens} tokens");
            await Task.Delay(20);
        }
        await Task.Delay(500);
        Assert.Equal(tokens, await Relayed());
    }

    [Fact]
    public async Task A_worker_sends_the_chunks_of_all_its_requests_in_a_step_as_one_message()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        await harness.Start("worker", gateway);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var requests = ClusterHarness.Requests(8, 48, seed: 91);
        var results = await Task.WhenAll(requests.Select(r => gateway.Gateway!.GenerateAsync(r))).WaitAsync(TimeSpan.FromSeconds(60));

        var worker = (await gateway.Gateway!.TopologyAsync()).Workers.Single();
        Assert.Equal(8 * 48, worker.TokensRelayed);
        // 8 requests decode together: about one message per step (48 steps, plus finals), never one per token.
        Assert.True(worker.RelayBatches <= 8 * 48 / 3, $"{worker.RelayBatches} messages for {worker.TokensRelayed} tokens");
        var expected = await ClusterHarness.Reference(requests);
        for (int i = 0; i < requests.Count; i++) Assert.Equal(expected[i].TokenIds, results[i].TokenIds);
    }

    [Fact]
    public async Task A_client_that_does_not_read_pauses_its_request_on_the_worker_after_a_window_of_chunks_and_resumes_when_it_reads()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        var worker = await harness.Start("worker", gateway, WorkerWindow);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var request = ClusterHarness.Requests(1, 64, seed: 92)[0];
        var (chunks, outcome) = StartBounded(gateway, request);

        await WaitPaused(gateway, worker, Window); // nothing read: the worker stops at its window
        var (all, final) = await ReadAll(chunks, outcome);
        Assert.Equal(FinishReason.Length, Assert.IsType<GenerationCompleted>(final).Reason);
        var expected = (await ClusterHarness.Reference([request]))[0];
        Assert.Equal(expected.TokenIds, all.SelectMany(c => c.TokenIds));
        Assert.Equal(expected.Text, string.Concat(all.Select(c => c.Text)));
    }

    [Fact]
    public async Task A_dotnet_caller_that_reads_a_gateway_stream_slowly_pauses_its_request_on_the_worker_too()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null, WorkerWindow); // the gateway's streams hold as many
        var worker = await harness.Start("worker", gateway, WorkerWindow);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var request = ClusterHarness.Requests(1, 80, seed: 96)[0];
        await using var stream = gateway.Gateway!.StreamAsync(request).GetAsyncEnumerator();
        Assert.True(await stream.MoveNextAsync());
        var tokens = new List<int>(stream.Current.TokenIds);

        // One chunk read: the stream's buffer (8) fills, then what the gateway holds for it (credits go back
        // every half window while the buffer has room), and the worker stops at its window.
        async Task<long> Relayed() => (await gateway.Gateway!.TopologyAsync()).Workers.Single().TokensRelayed;
        long relayed = -1;
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30); relayed != await Relayed(); await Task.Delay(500))
        {
            Assert.True(DateTime.UtcNow < deadline, "the worker did not stop");
            relayed = await Relayed();
        }
        Assert.InRange(relayed, 1 + Window, 1 + 2 * Window);
        while (await stream.MoveNextAsync()) tokens.AddRange(stream.Current.TokenIds);
        Assert.Equal((await ClusterHarness.Reference([request]))[0].TokenIds, tokens);
    }

    [Fact]
    public async Task A_client_that_stops_reading_gets_a_clear_error_when_the_worker_evicts_its_paused_request()
    {
        await using var harness = new ClusterHarness();
        var gateway = await harness.Start("gateway", null);
        await harness.Start("worker", gateway, WorkerWindow + "\nactors-runtime.request.max-paused = 1s");
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var (_, outcome) = StartBounded(gateway, ClusterHarness.Requests(1, 500, seed: 93)[0]);

        var final = Assert.IsType<GenerationCompleted>(await outcome.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(FinishReason.Evicted, final.Reason);
        Assert.Contains("max-paused", final.Error);
        Assert.True(final.Usage.CompletionTokens <= Window, $"{final.Usage.CompletionTokens} tokens reached the gateway");
    }

    /// <summary>
    /// The request runs on w1 until it has streamed exactly <see cref="Window"/> tokens (its client reads
    /// nothing, so w1 pauses it); w2 joins, w1 crashes, and the request continues on w2 from those tokens.
    /// </summary>
    private static async Task<(List<TokenChunk> Chunks, object Final)> RunAcrossAFailover(ClusterHarness harness, Generate request)
    {
        var gateway = await harness.Start("gateway", null);
        var w1 = await harness.Start("worker", gateway, WorkerWindow);
        await ClusterHarness.WaitForWorkers(gateway, 1);
        var (chunks, outcome) = StartBounded(gateway, request);
        await WaitPaused(gateway, w1, Window);
        await harness.Start("worker", gateway, WorkerWindow);
        await ClusterHarness.WaitForWorkers(gateway, 2);
        await ClusterHarness.Crash(w1);
        var result = await ReadAll(chunks, outcome);
        var topology = await gateway.Gateway!.TopologyAsync();
        Assert.Equal((1, Window), (topology.Readmitted, topology.ReadmittedTokens));
        return result;
    }

    [Fact]
    public async Task A_stop_string_that_straddles_a_failover_still_ends_the_request_with_the_single_node_text()
    {
        var open = ClusterHarness.Requests(1, 48, seed: 94)[0];
        var reference = await ReferenceChunks(open);
        // A stop string made of the last characters streamed before the loss and the first ones after it,
        // occurring nowhere earlier: the new worker never sees its beginning.
        string text = string.Concat(reference.Select(c => c.Text));
        int boundary = reference.Take(Window).Sum(c => c.Text.Length);
        string? stop = null;
        for (int k = 1; k <= 6 && stop is null; k++)
            if (boundary - k >= 0 && boundary + k <= text.Length && text.IndexOf(text.Substring(boundary - k, 2 * k), StringComparison.Ordinal) == boundary - k)
                stop = text.Substring(boundary - k, 2 * k);
        Assert.True(stop is not null, $"no stop string straddles character {boundary} of \"{text}\"");
        var request = open with { Sampling = open.Sampling with { StopSequences = [stop!] } };
        var expected = (await ClusterHarness.Reference([request]))[0];
        Assert.Equal(FinishReason.Stop, expected.Completed.Reason);
        Assert.True(expected.TokenIds.Count > Window, "the stop string ends before the failover");

        await using var harness = new ClusterHarness();
        var (chunks, final) = await RunAcrossAFailover(harness, request);
        Assert.Equal(FinishReason.Stop, Assert.IsType<GenerationCompleted>(final).Reason);
        Assert.Equal(expected.TokenIds, chunks.SelectMany(c => c.TokenIds));
        Assert.Equal(expected.Text, string.Concat(chunks.Select(c => c.Text)));
        Assert.Equal(Enumerable.Range(0, chunks.Count), chunks.Select(c => c.Index));
    }

    [Fact]
    public async Task A_seeded_sampled_request_continues_its_random_sequence_after_a_failover()
    {
        var request = ClusterHarness.Requests(1, 40, seed: 95)[0] with
        {
            Sampling = new SamplingOptions { Temperature = 0.9f, TopP = 0.95f, Seed = 1234, IgnoreEos = true },
        };
        var expected = (await ClusterHarness.Reference([request]))[0];

        await using var harness = new ClusterHarness();
        var (chunks, final) = await RunAcrossAFailover(harness, request);
        Assert.Equal(FinishReason.Length, Assert.IsType<GenerationCompleted>(final).Reason);
        Assert.Equal(expected.TokenIds, chunks.SelectMany(c => c.TokenIds));
        Assert.Equal(expected.Text, string.Concat(chunks.Select(c => c.Text)));
    }

    /// <summary>The chunks a single node streams for <paramref name="request"/>.</summary>
    private static async Task<List<TokenChunk>> ReferenceChunks(Generate request)
    {
        var system = ActorSystem.Create("reference-chunks", ConfigurationFactory.ParseString(ClusterHarness.RuntimeHocon()));
        try
        {
            var chunks = new List<TokenChunk>();
            await foreach (var c in LlmRuntime.Get(system).StreamAsync(request)) chunks.Add(c);
            return chunks;
        }
        finally
        {
            await system.Terminate();
        }
    }
}
