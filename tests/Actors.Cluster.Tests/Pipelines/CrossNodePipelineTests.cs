using Akka.Actor;
using Actors.Cluster.Tests.Nodes;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Generation;
using Actors.Inference.Model;
using Actors.Runtime;
using Actors.Runtime.Configuration;
using Actors.Runtime.Protocol;
using Actors.Runtime.Remote;
using Actors.Runtime.Transfer;

namespace Actors.Cluster.Tests.Pipelines;

/// <summary>
/// One replica's pipeline stages on two nodes: the tokens and logits of one device, activations and logits
/// on the stage's data connection (booked on the network path), and clear errors, never a hang, when the
/// data endpoint is unreachable or the peer dies mid-run.
/// </summary>
[Collection("cluster")]
public sealed class CrossNodePipelineTests
{
    private static List<Generate> Requests(int count, int maxTokens, int seed) =>
        ClusterHarness.Requests(count, maxTokens, seed).Select(r => r with { Sampling = r.Sampling with { LogProbs = true, TopLogProbs = 3 } }).ToList();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_pipeline_across_two_nodes_gives_the_greedy_tokens_and_logprobs_of_one_device(bool remoteFirst)
    {
        var requests = Requests(4, 16, seed: 1701);
        var reference = await TwoNodePipeline.Reference(requests);
        await using var nodes = new TwoNodePipeline();
        var runtime = nodes.StartRuntime(remoteFirst);
        Assert.Equal(2, runtime.Layout.StagesPerReplica(0));

        var results = await Task.WhenAll(requests.Select(r => TwoNodePipeline.Run(runtime, r))).WaitAsync(TimeSpan.FromSeconds(60));

        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(FinishReason.Length, results[i].Completed.Reason);
            Assert.Equal(reference[i].Tokens, results[i].Tokens);
        }
        // Activations crossed on the data connection, both ways, and were booked on network paths between the nodes.
        var network = runtime.Transfers.ByKind[PathKind.Network];
        int dim = runtime.Model.Config.EmbeddingLength;
        long tokensCrossing = requests.Sum(r => r.PromptTokens!.Length + 15);
        Assert.True(network.Bytes >= 4L * dim * tokensCrossing, $"network bytes {network.Bytes} < the activations of {tokensCrossing} tokens");
        Assert.True(network.Seconds > 0);
        Assert.Contains(runtime.Transfers.ByPair.Keys, p => remoteFirst ? p == ("local", "cpu:1") : p == ("cpu:0", "cpu:1"));
        Assert.Contains(runtime.Transfers.ByPair.Keys, p => remoteFirst ? p == ("cpu:1", "cpu:0") : p == ("cpu:1", "local"));
        var link = runtime.Transfers.MeasuredLinks["cpu:1"];
        Assert.True(link.BytesPerSecond > 1e6 && link.LatencySeconds < 0.1, $"measured loopback link {link}");
        Assert.Equal(PathKind.Network, runtime.Topology.Choose("cpu:0", "cpu:1").Kind);
    }

    [Fact]
    public async Task Swap_preemption_of_a_remote_stage_moves_its_kv_pages_over_the_network_and_keeps_the_tokens()
    {
        var requests = ClusterHarness.Requests(4, 40, seed: 1705);
        var reference = await TwoNodePipeline.Reference(requests);
        await using var nodes = new TwoNodePipeline();
        var runtime = nodes.StartRuntime(remoteFirst: true, "actors-runtime.kv-cache.num-blocks = 10\nactors-runtime.scheduler.preemption-mode = swap");
        var results = await Task.WhenAll(requests.Select(r => TwoNodePipeline.Run(runtime, r))).WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < requests.Count; i++) Assert.Equal(reference[i].Tokens, results[i].Tokens);
        Assert.True(runtime.Metrics.PreemptionsTotal > 0, "the tiny KV pool forced no preemption");
        // The remote stage's swap slots are in node A's memory: its pages came over the network, whole blocks of its layers.
        var swapped = runtime.Transfers.ByPair[("cpu:1", "local")];
        var c = runtime.Model.Config;
        long blockBytes = 16L * c.KvDim * 2 * 4 * runtime.Layout.Replicas[0][0].Layers.Count;
        Assert.True(swapped.Bytes > 0 && swapped.Bytes % blockBytes == 0, $"{swapped.Bytes} bytes swapped, blocks of {blockBytes}");
    }

    [Fact]
    public async Task Prefix_caching_and_parallel_choices_with_a_remote_stage_keep_the_tokens_of_one_device()
    {
        var prefix = Enumerable.Range(0, 40).Select(i => 3 + (i * 13) % 300).ToArray();
        var requests = ClusterHarness.Requests(4, 12, seed: 1706, promptLength: 7, sharedPrefix: prefix);
        var reference = await TwoNodePipeline.Reference(requests);
        await using var nodes = new TwoNodePipeline();
        var runtime = nodes.StartRuntime(remoteFirst: false, "actors-runtime.scheduler.prefix-caching = on");
        foreach (var (request, expected) in requests.Zip(reference)) // one after another: later ones hit the cached prefix
            Assert.Equal(expected.Tokens, (await TwoNodePipeline.Run(runtime, request).WaitAsync(TimeSpan.FromSeconds(30))).Tokens);
        Assert.True(Interlocked.Read(ref runtime.Metrics.Replica(0).PrefixHits) > 0, "no prefix-cache hit");
        // Greedy choices of one prompt share its KV blocks and copy the partial one on write (a copy on the remote stage's device).
        var choices = runtime.StreamChoicesWithCompletion(Enumerable.Range(0, 3).Select(i => requests[0] with { RequestId = $"n{i}" }).ToList());
        foreach (var (chunks, completion) in choices)
        {
            var tokens = new List<int>();
            await foreach (var c in chunks) tokens.AddRange(c.TokenIds);
            await completion.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(reference[0].Tokens, tokens);
        }
    }

    [Fact]
    public async Task A_request_migrated_between_a_cross_node_replica_and_a_local_one_keeps_its_tokens_and_its_kv_pages_cross_the_network()
    {
        var request = ClusterHarness.Requests(1, 60, seed: 1707, promptLength: 40)[0];
        var reference = await TwoNodePipeline.Reference([request]);
        await using var nodes = new TwoNodePipeline();
        // Replica 0: cpu:0 here and B's device; replica 1: two devices here.
        var a = ActorSystem.Create("runtime-node", Akka.Configuration.ConfigurationFactory.ParseString($$"""
            actors-runtime.devices = [ { id = "cpu:0", kind = cpu, threads = 1 }, { id = "cpu:1", kind = cpu, node = "{{nodes.NodeB}}" },
                                       { id = "cpu:2", kind = cpu, threads = 1 }, { id = "cpu:3", kind = cpu, threads = 1 } ]
            actors-runtime.layout { replicas = 2, pipeline = 2 }
            """).WithFallback(Akka.Configuration.ConfigurationFactory.ParseString(TwoNodePipeline.RuntimeHocon(nodes.NodeB, false)))
            .WithFallback(TwoNodePipeline.Remote("runtime-node")));
        try
        {
            var runtime = LlmRuntime.Get(a);
            Assert.Equal(["cpu:0", "cpu:1"], runtime.Layout.Replicas[0].Select(s => s.DeviceId));
            var (chunks, completion) = runtime.StreamWithCompletion(request);
            var tokens = new List<int>();
            await using var reader = chunks.GetAsyncEnumerator();
            while (tokens.Count < 10 && await reader.MoveNextAsync()) tokens.AddRange(reader.Current.TokenIds);
            var reply = await runtime.Router.Ask<object>(new MigrateRequest(request.RequestId, 1), TimeSpan.FromSeconds(30));
            if (reply is MigrationFailed { Reason: var reason } && reason.Contains("already runs"))
                reply = await runtime.Router.Ask<object>(new MigrateRequest(request.RequestId, 0), TimeSpan.FromSeconds(30));
            var done = Assert.IsType<MigrationCompleted>(reply);
            while (await reader.MoveNextAsync()) tokens.AddRange(reader.Current.TokenIds);
            Assert.Equal(FinishReason.Length, (await completion.WaitAsync(TimeSpan.FromSeconds(30))).Reason);
            Assert.Equal(reference[0].Tokens, tokens);
            // The second stage's KV pages moved between B's device and cpu:3, over the network.
            var moved = runtime.Transfers.ByPair.Where(p => p.Key is ("cpu:1", "cpu:3") or ("cpu:3", "cpu:1")).Sum(p => p.Value.Bytes);
            Assert.True(moved > 0 && done.Bytes > 0, $"{moved} bytes of KV between cpu:1 and cpu:3, {done.Bytes} migrated");
        }
        finally
        {
            await a.Terminate();
        }
    }

    [Fact]
    public async Task A_remote_last_stage_sends_each_greedy_rows_best_token_back_instead_of_its_logits()
    {
        var requests = ClusterHarness.Requests(4, 12, seed: 1709);
        var reference = await TwoNodePipeline.Reference(requests);
        var back = new Dictionary<bool, TransferTotals>();
        foreach (bool topK in new[] { false, true })
        {
            await using var nodes = new TwoNodePipeline();
            var runtime = nodes.StartRuntime(remoteFirst: false, $"actors-runtime.top-k-sampling = {(topK ? "on" : "off")}");
            var results = await Task.WhenAll(requests.Select(r => TwoNodePipeline.Run(runtime, r))).WaitAsync(TimeSpan.FromSeconds(60));
            for (int i = 0; i < requests.Count; i++) Assert.Equal(reference[i].Tokens, results[i].Tokens);
            back[topK] = runtime.Transfers.ByPair[("cpu:1", "local")];
        }
        long rows = requests.Sum(r => (long)r.MaxTokens!.Value), vocab = ClusterHarness.Model.Vocab;
        Assert.True(back[false].Bytes >= 4 * vocab * rows, $"whole rows: {back[false].Bytes} bytes back for {rows} rows of {vocab} logits");
        // A frame per step: 8 bytes of header, 8 of remote seconds, two array lengths, then 8 bytes per row (id and value).
        Assert.True(back[true].Bytes <= 24 * back[true].Count + 8 * rows, $"top-k: {back[true].Bytes} bytes back in {back[true].Count} steps for {rows} rows");
    }

    [Fact]
    public async Task Logprobs_across_two_nodes_are_within_1e5_of_one_device()
    {
        var requests = Requests(3, 12, seed: 1702);
        var reference = await TwoNodePipeline.Reference(requests);
        await using var nodes = new TwoNodePipeline();
        var runtime = nodes.StartRuntime(remoteFirst: false);
        var results = await Task.WhenAll(requests.Select(r => TwoNodePipeline.Run(runtime, r))).WaitAsync(TimeSpan.FromSeconds(60));
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(reference[i].Tokens, results[i].Tokens);
            var (expected, actual) = (reference[i].LogProbs, results[i].LogProbs);
            Assert.Equal(expected.Count, actual.Count);
            for (int j = 0; j < expected.Count; j++)
                Assert.True(Math.Abs(expected[j] - actual[j]) <= 1e-5 * Math.Max(1, Math.Abs(expected[j])), $"request {i} token {j}: {actual[j]} vs {expected[j]}");
        }
    }

    [Fact]
    public async Task A_stage_chain_with_a_remote_stage_gives_the_logits_of_one_device_within_1e5()
    {
        await using var nodes = new TwoNodePipeline();
        var a = ActorSystem.Create("chain-node", TwoNodePipeline.Remote("chain-node"));
        try
        {
            using var model = LlamaModel.Open(ClusterHarness.ModelPath);
            var tokens = Enumerable.Range(0, 40).Select(i => 3 + (i * 37) % 300).ToArray();
            using var one = new CpuDevice("cpu:0", 1);
            using var single = new SequenceRunner(one, model, 64);
            var expected = single.Feed(tokens, allLogits: true);

            using var local = new CpuDevice("cpu:0", 1);
            using var remote = new RemoteComputeDevice(new DeviceOptions("cpu:1", DeviceKind.Cpu, 1, "", nodes.NodeB), a, model, TimeSpan.FromSeconds(5), new TransferAccounting());
            int half = model.Config.BlockCount / 2;
            using var chain = new SequenceRunner([(local, new LayerRange(0, half)), (remote, new LayerRange(half, model.Config.BlockCount))], model, 64);
            var actual = chain.Feed(tokens[..30], allLogits: true).Concat(Enumerable.Range(30, 10).SelectMany(i => chain.Feed(tokens.AsSpan(i, 1), allLogits: true))).ToArray();
            var expectedSplit = expected;
            Assert.Equal(expectedSplit.Length, actual.Length);
            for (int i = 0; i < actual.Length; i++)
                Assert.True(Math.Abs(actual[i] - expectedSplit[i]) <= 1e-5 * Math.Max(1, Math.Abs(expectedSplit[i])), $"logit {i}: {actual[i]} vs {expectedSplit[i]}");
        }
        finally
        {
            await a.Terminate();
        }
    }

    [Fact]
    public async Task An_unreachable_data_endpoint_fails_start_up_naming_the_endpoint()
    {
        await using var nodes = new TwoNodePipeline();
        var endpoint = nodes.Host.DataEndpoint;
        nodes.Host.Dispose(); // the control actor still answers; nothing listens on the data endpoint any more
        var started = DateTime.UtcNow;
        var error = Assert.Throws<InvalidConfigurationException>(() => nodes.StartRuntime(remoteFirst: false));
        Assert.Contains($"data endpoint {endpoint.Address}:{endpoint.Port}", error.Message);
        Assert.Contains("unreachable", error.Message);
        Assert.Contains("cpu:1", error.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task A_remote_device_in_a_system_without_remoting_is_refused_naming_the_setting()
    {
        var a = ActorSystem.Create("local-only", Akka.Configuration.ConfigurationFactory.ParseString(
            TwoNodePipeline.RuntimeHocon("akka.tcp://actors@127.0.0.1:9", remoteFirst: false) + "\nakka.loglevel = WARNING"));
        try
        {
            var error = Assert.Throws<InvalidConfigurationException>(() => LlmRuntime.Get(a));
            Assert.Contains("device \"cpu:1\" is on node akka.tcp://actors@127.0.0.1:9, but this actor system has no remoting: set akka.actor.provider = remote", error.Message);
        }
        finally
        {
            await a.Terminate();
        }
    }

    [Fact]
    public async Task A_node_with_no_stage_host_fails_start_up_within_the_network_timeout()
    {
        var empty = ActorSystem.Create("empty-node", TwoNodePipeline.Remote("empty-node"));
        try
        {
            string node = ((ExtendedActorSystem)empty).Provider.DefaultAddress.ToString();
            var config = Akka.Configuration.ConfigurationFactory.ParseString(TwoNodePipeline.RuntimeHocon(node, remoteFirst: false))
                .WithFallback(TwoNodePipeline.Remote("runtime-node"));
            var a = ActorSystem.Create("runtime-node", config);
            try
            {
                var error = Assert.Throws<InvalidConfigurationException>(() => LlmRuntime.Get(a));
                Assert.Contains($"{node}/user/llm-stage-host did not answer within 3 s", error.Message);
            }
            finally
            {
                await a.Terminate();
            }
        }
        finally
        {
            await empty.Terminate();
        }
    }

    /// <summary>Answers the control messages as a stage host would, but its data endpoint accepts and then stays silent.</summary>
    private sealed class SilentHost : ReceiveActor
    {
        public SilentHost(int port)
        {
            Receive<DescribeStageHost>(_ => Sender.Tell(new StageHostInfo { DeviceId = "cpu:0", DeviceName = "silent", Kind = (int)DeviceKind.Cpu, MemoryBytes = 8L << 30, Threads = 1 }));
            Receive<EstimateRemoteStage>(_ => Sender.Tell(new RemoteStageEstimate { Bytes = 1 << 20 }));
            Receive<OpenRemoteStage>(_ => Sender.Tell(new RemoteStageOpened { Host = "127.0.0.1", Port = port, SessionKey = new byte[16] }));
        }
    }

    [Fact]
    public async Task A_silent_peer_fails_start_up_after_the_network_timeout_instead_of_hanging()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var accepted = listener.AcceptSocketAsync();
        var silent = ActorSystem.Create("silent-node", TwoNodePipeline.Remote("silent-node"));
        try
        {
            RuntimeMessageSerializerBinding(silent);
            silent.ActorOf(Props.Create(() => new SilentHost(((System.Net.IPEndPoint)listener.LocalEndpoint).Port)), StageHost.ActorName);
            string node = ((ExtendedActorSystem)silent).Provider.DefaultAddress.ToString();
            var config = Akka.Configuration.ConfigurationFactory.ParseString(TwoNodePipeline.RuntimeHocon(node, remoteFirst: false))
                .WithFallback(TwoNodePipeline.Remote("runtime-node"));
            var a = ActorSystem.Create("runtime-node", config);
            try
            {
                var started = DateTime.UtcNow;
                var error = Assert.Throws<InvalidConfigurationException>(() => LlmRuntime.Get(a));
                Assert.Contains("replica 0 stage 1 failed to load on cpu:1", error.Message);
                Assert.Contains("no answer within the I/O timeout (3 s", error.Message);
                Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15));
            }
            finally
            {
                await a.Terminate();
            }
        }
        finally
        {
            listener.Stop();
            (await accepted).Dispose();
            await silent.Terminate();
        }
    }

    private static void RuntimeMessageSerializerBinding(ActorSystem system) => Actors.Runtime.Serialization.RuntimeMessageSerializer.EnsureBound(system);

    [Fact]
    public async Task A_peer_dying_mid_run_ends_every_request_with_an_error_and_later_ones_are_rejected()
    {
        await using var nodes = new TwoNodePipeline();
        var runtime = nodes.StartRuntime(remoteFirst: false);
        var requests = ClusterHarness.Requests(3, 1500, seed: 1703);
        var running = requests.Select(r => runtime.GenerateAsync(r)).ToList();
        // Let the steps flow, then kill B (its sockets close as a killed process's would).
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while ((runtime.Transfers.ByKind.GetValueOrDefault(PathKind.Network)?.Count ?? 0) < 20 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(runtime.Transfers.ByKind[PathKind.Network].Count >= 20, "the pipeline never got going");
        await nodes.B.Terminate();

        foreach (var task in running)
        {
            var result = await task.WaitAsync(TimeSpan.FromSeconds(15));
            Assert.Equal(FinishReason.Error, result.Completed.Reason);
            Assert.Contains("remote stage cpu:1", result.Completed.Error);
            Assert.True(result.TokenIds.Count < 1500);
        }
        var late = await Assert.ThrowsAsync<GenerationRejectedException>(() => runtime.GenerateAsync(ClusterHarness.Requests(1, 4, seed: 1704)[0]).WaitAsync(TimeSpan.FromSeconds(15)));
        Assert.Contains("replica", late.Message);
    }
}
