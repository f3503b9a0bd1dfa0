using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Akka;
using Akka.Actor;
using Akka.Event;
using Akka.Streams;
using Akka.Streams.Dsl;
using Actors.Inference.Compute;
using Actors.Inference.Cpu;
using Actors.Inference.Model;
using Actors.Inference.Synthetic;
using Actors.Inference.Tokenization;
using Actors.Runtime.Configuration;
using Actors.Runtime.Internal;
using Actors.Runtime.Layout;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using Actors.Runtime.Transfer;
using Actors.Runtime.Timing;

namespace Actors.Runtime;

/// <summary>Whether one replica takes requests; <see cref="Problem"/> says why not.</summary>
public sealed record ReplicaStatus(int Replica, bool Healthy, string? Problem);

/// <summary>The outcome of a whole generation: every chunk's text joined, and the final message.</summary>
public sealed record GenerationResult(string Text, IReadOnlyList<int> TokenIds, GenerationCompleted Completed);

/// <summary>
/// The LLM runtime as an Akka.NET extension: <c>LlmRuntime.Get(system)</c> reads
/// `actors-runtime` (validated; defaults from the embedded reference.conf), opens the model, places
/// its stages on the devices, and starts the actors. Send <see cref="Generate"/> / <see cref="Cancel"/>
/// to <see cref="Router"/>, or use <see cref="Stream"/> / <see cref="StreamAsync"/> / <see cref="GenerateAsync"/>.
/// </summary>
public sealed partial class LlmRuntime : IExtension
{
    private readonly ActorSystem _system;

    public RuntimeSettings Settings { get; }
    public LlamaModel Model { get; }
    public Tokenizer Tokenizer { get; }

    /// <summary>
    /// The model file's own chat template (a named built-in where it has none), or
    /// <paramref name="overrideTemplate"/> (a template file or built-in name).
    /// </summary>
    public Inference.ChatTemplates.ChatTemplate ChatTemplate(string? overrideTemplate = null) =>
        Inference.ChatTemplates.ChatTemplate.ForModel(
            Model.File?.Metadata ?? new Dictionary<string, Inference.Gguf.GgufValue>(), Tokenizer, overrideTemplate);
    public RuntimeLayout Layout { get; }
    public KvCacheSpec KvCache { get; }

    /// <summary>The longest sequence (prompt + generated) a request may reach: scheduler.max-model-length capped at the model's context_length, or that length.</summary>
    public int MaxModelLength { get; }
    public RuntimeMetrics Metrics { get; }
    public Topology Topology { get; }
    public TransferAccounting Transfers { get; } = new();
    public IActorRef Router { get; }
    public IReadOnlyDictionary<string, IActorRef> DeviceActors { get; }
    /// <summary>The devices the runtime opened (id, kind, memory, threads).</summary>
    public IReadOnlyList<DeviceDescriptor> Devices { get; }
    internal IReadOnlyList<ReplicaHandle> Replicas { get; }
    /// <summary>True once the actor system has terminated (readiness: nothing can be served any more).</summary>
    public bool IsTerminated => _system.WhenTerminated.IsCompleted;

    /// <summary>Each replica's health now: out of rotation after a failure (for good) or while a step is overdue.</summary>
    public IReadOnlyList<ReplicaStatus> ReplicaStates() =>
        Replicas.Select(r => new ReplicaStatus(r.Replica, r.Health.IsHealthy, r.Health.Problem)).ToList();

    /// <summary>The parent of the runtime's actors, with an explicit strategy per child (see <see cref="RuntimeGuardian"/>).</summary>
    private readonly IActorRef _guardian;

    public static LlmRuntime Get(ActorSystem system) => system.WithExtension<LlmRuntime, LlmRuntimeProvider>();

    internal LlmRuntime(ExtendedActorSystem system)
    {
        _system = system;
        system.Settings.InjectTopLevelFallback(RuntimeSettings.DefaultConfig());
        Settings = RuntimeSettings.Create(system.Settings.Config);
        var setup = system.Settings.Setup.Get<RuntimeSetup>().GetOrElse(new RuntimeSetup());
        Metrics = new RuntimeMetrics(setup.MeterFactory);
        Transfers.Observer = Metrics.Transfer;

        // Opened for the longest sequence this runtime will run, which picks Phi-3's long or short RoPE factors.
        Model = setup.Model ?? LlamaModel.Open(Settings.Model.Path.Length > 0 ? Settings.Model.Path : DefaultModel.EnsurePath(), Settings.Scheduler.MaxModelLength);
        if (setup.Model is null) system.RegisterOnTermination(Model.Dispose);
        Tokenizer = setup.Tokenizer ?? (Model.File is { } file ? Tokenizer.FromGguf(file)
            : throw new InvalidConfigurationException("the model has no GGUF file to read its tokenizer from; give one in RuntimeSetup.Tokenizer"));

        var devices = CreateDevices(Settings, setup, system, Model, Transfers);
        var c = Model.Config;
        var costs = new LayerCosts(Model.Layers.Select(l => l.ByteSize).ToList(), Model.TokenEmbedding.ByteSize,
            (ReferenceEquals(Model.Output, Model.TokenEmbedding) ? 0 : Model.Output.ByteSize) + 4L * c.EmbeddingLength,
            Settings.KvCache.Type == KvCacheType.F16 ? 2L * 2 * c.KvDim : 2L * 4 * c.KvDim);
        Layout = LayoutPlanner.Plan(Settings.Layout, devices.Select(d => new DeviceCapacity(d.Descriptor.Id, d.Descriptor.MemoryBytes)).ToList(), costs);
        int maxModelLength = Settings.Scheduler.MaxModelLength > 0 ? Math.Min(Settings.Scheduler.MaxModelLength, c.ContextLength) : c.ContextLength;
        MaxModelLength = maxModelLength;
        KvCache = KvSizing.Size(Settings.KvCache, Layout, devices, c, maxModelLength, maxChunkTokens: Settings.Scheduler.MaxBatchedTokens);
        KvSizing.CheckFit(Model, Layout, devices, KvCache, Settings.Scheduler.MaxBatchedTokens);

        Topology = Topology.FromSettings(Settings, devices.Select(d => new TopologyDevice(d.Descriptor.Id, d.Descriptor.Kind, NodeOf(Settings, d.Descriptor.Id))));
        bool virtualClock = Settings.VirtualClock;
        _guardian = system.SystemActorOf(RuntimeGuardian.Props(), "llm-runtime");
        var transfer = Child(TransferActor.Props(Topology, Transfers, virtualClock, setup.CopyEngines), "llm-transfer");
        var migrations = Child(MigrationCoordinator.Props(Topology), "llm-migrations");
        var deviceActors = devices.ToDictionary(d => d.Descriptor.Id,
            d => Child(DeviceActor.Props(d, DeviceDispatcher(system, d.Descriptor.Id), DeviceTimeline.For(virtualClock)), "llm-device-" + Sanitize(d.Descriptor.Id)));
        DeviceActors = deviceActors;
        Devices = devices.Select(d => d.Descriptor).ToList();

        var replicas = new List<ReplicaHandle>();
        foreach (var stages in Layout.Replicas)
        {
            int r = stages[0].Replica;
            var schedulerSettings = new SchedulerSettings
            {
                MaxBatchedTokens = Settings.Scheduler.MaxBatchedTokens,
                MaxRunningSequences = Settings.Scheduler.MaxRunningSequences,
                MaxWaiting = Settings.Scheduler.MaxWaiting,
                BlockSize = KvCache.BlockSize,
                NumBlocks = KvCache.NumBlocks,
                NumSlidingBlocks = KvCache.SlidingNumBlocks,
                SlidingWindow = KvCache.HasSlidingPool ? c.SlidingWindow : 0,
                MaxModelLength = maxModelLength,
                EnableChunkedPrefill = Settings.Scheduler.ChunkedPrefill,
                EnablePrefixCaching = Settings.Scheduler.PrefixCaching,
                PreemptionMode = Settings.Scheduler.PreemptionMode,
                MaxInFlightSteps = Settings.Scheduler.MaxInFlightSteps > 0 ? Settings.Scheduler.MaxInFlightSteps : stages.Count > 1 ? stages.Count + 1 : 1,
                NumSwapBlocks = Settings.Scheduler.PreemptionMode == PreemptionMode.Recompute ? 0 : Settings.KvCache.SwapBlocks,
                SwapSecondsPerBlock = SwapSecondsPerBlock(stages),
            };
            try
            {
                schedulerSettings.Validate();
            }
            catch (ArgumentException ex)
            {
                throw new InvalidConfigurationException($"actors-runtime.scheduler: {ex.Message}");
            }
            var policy = new SchedulerPolicy(schedulerSettings);
            var inTransit = new RequestsInTransit();
            IRuntimeClock clock = virtualClock ? new VirtualClock() : RealClock.Instance; // simulated replicas keep their own time
            var health = new ReplicaHealth(r);
            var faults = Settings.Faults.Enabled && Settings.Faults.KillSchedulerRate > 0 ? new FaultInjector(Settings.Faults, 1_000_000 + r) : null;
            var schedulerProps = SchedulerActor.Props(r, policy, stages.Count, Metrics, clock, inTransit, health, Settings.Scheduler.StepTimeout, faults);
            // A replica on one CPU device alone: its scheduler is a guest of that device's thread (see DeviceThread),
            // so a step's round trip wakes no other thread. Not on simulated devices: there the device thread
            // never sleeps (sampling back to back, no compute to wait for), and on a loaded machine one thread
            // that never sleeps got less CPU than two that take turns (simulated H200 runs 20-60 % slower).
            if (stages.Count == 1 && devices.First(d => d.Descriptor.Id == stages[0].DeviceId).Descriptor.Kind == DeviceKind.Cpu)
                schedulerProps = schedulerProps.WithDispatcher(SchedulerDispatcher(stages[0].DeviceId));
            var scheduler = Child(schedulerProps, $"llm-scheduler-{r}");
            var stageActors = LoadStages(stages, deviceActors, schedulerSettings, setup.StartTimeout);
            var route = new PipelineRoute(r, stageActors, scheduler, transfer, stages.Select(s => s.DeviceId).ToList(), migrations);
            scheduler.Tell(new UseRoute(route));
            replicas.Add(new ReplicaHandle(r, scheduler, Metrics.Replica(r), KvCache.BlockSize, inTransit, health));
        }
        Replicas = replicas;
        // Every end-of-generation id llama.cpp's loader rules give the vocabulary (eot, eom, im_end, end_of_turn...).
        var endOfGeneration = Tokenizer.EndOfGenerationIds.Where(id => id != Tokenizer.EosId).ToArray();
        var noHidden = Layout.Replicas.Select(stages => devices.First(d => d.Descriptor.Id == stages[^1].DeviceId)).FirstOrDefault(d => !d.ReturnsHiddenStates);
        string? noEmbeddings = noHidden is null ? null
            : $"embeddings are not available: the last stage runs on {noHidden.Descriptor.Id} ({noHidden.Descriptor.Kind}), whose backend returns no hidden states (only the CPU backend does)";
        var context = new RequestContext(Tokenizer, c.VocabSize, Settings.Request.DefaultMaxTokens, Metrics, endOfGeneration, virtualClock ? null : RealClock.Instance,
            Settings.Request.AdmissionTimeout, Settings.Request.MaxPaused, noEmbeddings);
        Router = Child(RouterActor.Props(replicas, context), "llm-router");
        system.RegisterOnTermination(Metrics.Dispose);
        if (Settings.WarmUp && !virtualClock) WarmRequestPath(setup.StartTimeout);
    }

    /// <summary>
    /// Short requests through router, request actor, scheduler, stages and sink before the runtime is
    /// handed out: the stages' dummy step compiles the kernels, these compile everything around them
    /// (admission, scheduling, sampling, detokenizing, delivery), so a fresh process's first request is
    /// as fast as its later ones. One samples at random from full logits, one greedily (with
    /// actors-runtime.top-k-sampling the stage actor's top-k path, left cold it cost the first greedy
    /// request ~0.5 ms of JIT inside its first step); both with a cancellation token, as servers pass one.
    /// The metrics do not count them. Start-up runs on the caller's thread, so waiting blocks no dispatcher.
    /// </summary>
    private void WarmRequestPath(TimeSpan timeout)
    {
        Metrics.Muted = true;
        try
        {
            WarmRequests(timeout);
            // A scheduler records a step after it has ended the step's finished requests: one round trip to
            // each lets it finish handling the warm-up's last step before the metrics count again.
            foreach (var replica in Replicas)
                if (!replica.Scheduler.Ask<ActorIdentity>(new Identify(null), timeout).Wait(timeout))
                    throw new InvalidConfigurationException($"replica {replica.Replica}'s scheduler did not answer within the start timeout of {timeout.TotalSeconds:F0} s after the warm-up");
        }
        finally
        {
            Metrics.Muted = false;
        }
    }

    private void WarmRequests(TimeSpan timeout)
    {
        int vocab = Model.Config.VocabSize;
        using var cancel = new CancellationTokenSource();
        foreach (var (id, prompt, sampling) in new[]
        {
            // Long enough for the many-token (tiled) kernel paths of a real prompt's prefill.
            ("actors-warm-up", Math.Clamp(MaxModelLength - 4, 1, 48), new SamplingOptions { IgnoreEos = true }),
            ("actors-warm-up-greedy", 1, SamplingOptions.Greedy with { IgnoreEos = true }),
        })
        {
            var request = new Generate
            {
                RequestId = id,
                PromptTokens = Enumerable.Range(1, prompt).Select(i => i % vocab).ToArray(),
                MaxTokens = 2,
                Sampling = sampling,
            };
            if (!GenerateAsync(request, cancel.Token).Wait(timeout))
                throw new InvalidConfigurationException($"the warm-up request did not finish within the start timeout of {timeout.TotalSeconds:F0} s (actors-runtime.warm-up = off skips it)");
        }
    }

    /// <summary>A child of the runtime's guardian (start-up runs on the caller's thread, so the wait blocks no dispatcher).</summary>
    private IActorRef Child(Props props, string name) =>
        _guardian.Ask<IActorRef>(new CreateRuntimeChild(props, name), TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();

    /// <summary>The executor of every device dispatcher, as HOCON names a type.</summary>
    private static readonly string ExecutorType = $"{typeof(DeviceThreadExecutorConfigurator).FullName}, {typeof(DeviceThreadExecutorConfigurator).Assembly.GetName().Name}";

    /// <summary>
    /// A dispatcher of one dedicated thread per device (<see cref="DeviceThread"/>), shared by the device
    /// actor and its stage actors, added under actors-runtime.device-dispatchers (one thread per device,
    /// not per actor), and one for the schedulers that are guests of that thread (the same id + "-schedulers").
    /// The thread ends once the actor system has terminated (no actor is left to post to it).
    /// </summary>
    private static string DeviceDispatcher(ExtendedActorSystem system, string deviceId)
    {
        string id = "actors-runtime.device-dispatchers." + Sanitize(deviceId);
        var thread = new DeviceThread(id, ex => system.EventStream.Publish(new Error(ex, id, typeof(DeviceThread), $"{id}: a task failed on the device thread: {ex.Message}")));
        system.RegisterOnTermination(thread.Dispose);
        system.Settings.InjectTopLevelFallback(Akka.Configuration.ConfigurationFactory.ParseString($$"""
            {{id}} { type = Dispatcher, throughput = 1, executor = "{{ExecutorType}}", device-thread = "{{thread.Key}}" }
            {{id}}-schedulers { type = Dispatcher, throughput = 30, executor = "{{ExecutorType}}", device-thread = "{{thread.Key}}", guest = on }
            """));
        return id;
    }

    private static string SchedulerDispatcher(string deviceId) => "actors-runtime.device-dispatchers." + Sanitize(deviceId) + "-schedulers";

    private List<IActorRef> LoadStages(IReadOnlyList<StagePlacement> stages, Dictionary<string, IActorRef> devices, SchedulerSettings scheduler, TimeSpan timeout)
    {
        // Start-up runs on the caller's thread (not an actor's), so waiting here blocks no dispatcher.
        var loads = stages.Select(s => devices[s.DeviceId].Ask<object>(
            new LoadStage(s.Replica, s.Stage, Model, s.Layers, KvCache, scheduler.MaxBatchedTokens, scheduler.NumSwapBlocks, Settings.WarmUp, Settings.Faults, Settings.TopKSampling), timeout)).ToArray();
        var actors = new List<IActorRef>();
        foreach (var task in loads)
        {
            var reply = task.GetAwaiter().GetResult();
            if (reply is StageLoadFailed f)
                throw new InvalidConfigurationException($"replica {f.Replica} stage {f.Stage} failed to load on {f.DeviceId}: {f.Reason}");
            actors.Add(((StageLoaded)reply).StageActor);
        }
        return actors;
    }

    /// <summary>The node a configured device is on ("local" unless it is a remote one).</summary>
    private static string NodeOf(RuntimeSettings settings, string deviceId) =>
        settings.Devices.FirstOrDefault(d => d.Id == deviceId) is { Node.Length: > 0 } d ? d.Node : "local";

    private static List<IComputeDevice> CreateDevices(RuntimeSettings settings, RuntimeSetup setup, ActorSystem system, LlamaModel model, TransferAccounting transfers)
    {
        var devices = new List<IComputeDevice>();
        foreach (var o in settings.Devices)
        {
            if (o.Node.Length > 0)
            {
                devices.Add(new Remote.RemoteComputeDevice(o, system, model, settings.Transfer.NetworkTimeout, transfers));
                continue;
            }
            var factory = setup.DeviceFactories.GetValueOrDefault(o.Kind) ?? BuiltInDevices.For(o.Kind)
                ?? throw new InvalidConfigurationException($"device \"{o.Id}\" is of kind {o.Kind.ToString().ToLowerInvariant()}, but no factory for that kind was given to the runtime (RuntimeSetup.DeviceFactories; Actors.Simulation's SimulatedDevices.Create for simulated devices)");
            try
            {
                devices.Add(factory(o));
            }
            catch (Exception ex) when (o.Kind == DeviceKind.Cuda && settings.CudaFallbackToCpu && ex is not InvalidConfigurationException)
            {
                system.Log.Warning("device {0}: {1}; running its stages on the CPU (actors-runtime.cuda-fallback = cpu)", o.Id, ex.Message);
                devices.Add(new CpuDevice(o.Id, o.Threads));
            }
            catch (Exception ex) when (ex is not InvalidConfigurationException)
            {
                throw new InvalidConfigurationException($"device \"{o.Id}\" ({o.Kind.ToString().ToLowerInvariant()}) could not be opened: {ex.Message}" +
                    (o.Kind == DeviceKind.Cuda ? " (set actors-runtime.cuda-fallback = cpu to run on the CPU instead)" : ""));
            }
        }
        return devices;
    }

    /// <summary>
    /// One KV block out to host memory and back over each stage's host path; stages copy their own
    /// layers' share in parallel, so the slowest stage sets the figure.
    /// </summary>
    private double SwapSecondsPerBlock(IReadOnlyList<StagePlacement> stages) =>
        stages.Max(s => 2 * Topology.HostPath(s.DeviceId).EstimateSeconds(s.Layers.Count * KvCache.BlockBytesPerLayer));

    internal static string Sanitize(string id) => new(id.Select(ch => char.IsLetterOrDigit(ch) || ch == '-' ? ch : '-').ToArray());

    /// <summary>
    /// Generates as an Akka.Streams source with backpressure: a slow consumer pauses the sequence, and
    /// cancelling the stream cancels the request. A rejection fails the stream with <see cref="GenerationRejectedException"/>.
    /// </summary>
    public Source<TokenChunk, NotUsed> Stream(Generate request) =>
        Source.Lazily(() =>
        {
            var (reader, _) = Start(request);
            return Source.ChannelReader(reader)
                .WatchTermination((mat, done) =>
                {
                    done.ContinueWith(t =>
                    {
                        // Cancelled downstream (not completed by the request itself): cancel the request.
                        if (!reader.Completion.IsCompleted) CancelRequest(request.RequestId);
                    });
                    return mat;
                });
        }).MapMaterializedValue(_ => NotUsed.Instance);

    /// <summary>Generates as an async enumerable; breaking out of the loop or cancelling the token cancels the request.</summary>
    public IAsyncEnumerable<TokenChunk> StreamAsync(Generate request, CancellationToken cancel = default) => Read(Start(request).Reader, request.RequestId, cancel);

    /// <summary>
    /// Like <see cref="StreamAsync"/>, plus a task that completes with the final message once the chunks are
    /// done (it faults with <see cref="GenerationRejectedException"/> when the request is not admitted).
    /// </summary>
    public (IAsyncEnumerable<TokenChunk> Chunks, Task<GenerationCompleted> Completion) StreamWithCompletion(Generate request, CancellationToken cancel = default)
    {
        var (reader, outcome) = Start(request);
        var completion = outcome.Task.ContinueWith(t => t.Result is GenerationCompleted c ? c : throw new GenerationRejectedException((GenerationRejected)t.Result),
            TaskContinuationOptions.ExecuteSynchronously);
        return (Read(reader, request.RequestId, cancel), completion);
    }

    /// <summary>
    /// The n choices of one request (OpenAI's n), each a <see cref="Generate"/> with its own id and
    /// sampling seed and the same prompt, started together on one replica: the prompt is computed once
    /// and its KV blocks are shared by the choices (copy-on-write), each of which then samples on its
    /// own. Each choice streams and completes as <see cref="StreamWithCompletion"/> does.
    /// </summary>
    public IReadOnlyList<(IAsyncEnumerable<TokenChunk> Chunks, Task<GenerationCompleted> Completion)> StreamChoicesWithCompletion(
        IReadOnlyList<Generate> choices, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(choices);
        var started = new List<StartChannelRequest>(choices.Count);
        var result = new List<(IAsyncEnumerable<TokenChunk>, Task<GenerationCompleted>)>(choices.Count);
        foreach (var request in choices)
        {
            var (reader, outcome, message) = Prepare(request, double.NaN);
            started.Add(message);
            var completion = outcome.Task.ContinueWith(t => t.Result is GenerationCompleted c ? c : throw new GenerationRejectedException((GenerationRejected)t.Result),
                TaskContinuationOptions.ExecuteSynchronously);
            result.Add((Read(reader, request.RequestId, cancel), completion));
        }
        Router.Tell(new StartChoices(started));
        return result;
    }

    private IAsyncEnumerable<TokenChunk> Read(ChannelReader<TokenChunk> reader, string requestId, CancellationToken cancel) =>
        GenerationChannel.Read(reader, () => CancelRequest(requestId), cancel);

    /// <summary>Generates to the end and returns the text, the token ids and the final message; cancelling the token cancels the request.</summary>
    public Task<GenerationResult> GenerateAsync(Generate request, CancellationToken cancel = default)
    {
        var (reader, outcome) = Start(request, collect: true);
        return Collect(reader, outcome, request.RequestId, cancel);
    }

    /// <summary>
    /// On the virtual clock: generates a request that arrives at <paramref name="arrivalAt"/> seconds of virtual
    /// time (the scheduler admits it when its clock gets there); timings in the result are virtual.
    /// </summary>
    public Task<GenerationResult> GenerateAtAsync(Generate request, double arrivalAt, CancellationToken cancel = default)
    {
        var (reader, outcome) = Start(request, arrivalAt, collect: true);
        return Collect(reader, outcome, request.RequestId, cancel);
    }

    /// <summary>
    /// On the virtual clock: generates every request of <paramref name="batch"/> at its virtual arrival
    /// time. Unlike calling <see cref="GenerateAtAsync"/> in a loop, the whole batch reaches the router in
    /// one message and counts as on its way before any request starts, so no scheduler runs ahead of
    /// requests the caller has already submitted: the same batch always gives the same run.
    /// </summary>
    public IReadOnlyList<Task<GenerationResult>> GenerateAllAtAsync(IReadOnlyList<(Generate Request, double ArrivalAt)> batch, CancellationToken cancel = default)
    {
        var started = new List<StartChannelRequest>(batch.Count);
        var tasks = new List<Task<GenerationResult>>(batch.Count);
        foreach (var (request, arrivalAt) in batch)
        {
            var (reader, outcome, message) = Prepare(request, arrivalAt, collect: true);
            started.Add(message);
            tasks.Add(Collect(reader, outcome, request.RequestId, cancel));
        }
        Router.Tell(new StartChannelRequests(started));
        return tasks;
    }

    private Task<GenerationResult> Collect(ChannelReader<TokenChunk> reader, TaskCompletionSource<object> outcome, string requestId, CancellationToken cancel) =>
        GenerationChannel.CollectWhenDone(reader, outcome, () => CancelRequest(requestId), cancel);

    private (ChannelReader<TokenChunk> Reader, TaskCompletionSource<object> Outcome) Start(Generate request, double arrivalAt = double.NaN, bool collect = false)
    {
        var (reader, outcome, message) = Prepare(request, arrivalAt, collect);
        if (_frontDoor is { } door) door.Start(request, message.Writer, outcome);
        else Router.Tell(message);
        return (reader, outcome);
    }

    /// <summary>
    /// Starts <paramref name="request"/> on this node's router with the caller's own <paramref name="writer"/>
    /// as its stream: every chunk goes to <c>writer.TryWrite</c> (false pauses the sequence, keeping its KV,
    /// until <c>writer.WaitToWriteAsync</c> says there is room, so the caller bounds what it buffers), then
    /// <paramref name="outcome"/> gets the final message or rejection and the writer is completed. For relays
    /// that gather many requests' chunks into one message (the cluster's workers).
    /// </summary>
    public void StartInto(Generate request, ChannelWriter<TokenChunk> writer, TaskCompletionSource<object> outcome)
    {
        ArgumentNullException.ThrowIfNull(request);
        Router.Tell(new StartChannelRequest(request, writer, outcome));
    }

    private IGenerationFrontDoor? _frontDoor;

    /// <summary>
    /// Sends the requests of this object's calls (<see cref="Stream"/>, <see cref="StreamAsync"/>,
    /// <see cref="StreamWithCompletion"/>, <see cref="GenerateAsync"/>, so also the HTTP server on top) to
    /// <paramref name="frontDoor"/> instead of <see cref="Router"/>: a cluster gateway serves them on other
    /// nodes. Messages sent to <see cref="Router"/> and the virtual-clock calls stay on this node.
    /// </summary>
    public void RouteThrough(IGenerationFrontDoor frontDoor) => _frontDoor = frontDoor;

    private void CancelRequest(string requestId)
    {
        if (_frontDoor is { } door) door.Cancel(requestId);
        else Router.Tell(new Cancel(requestId));
    }

    /// <param name="collect">
    /// For a caller that wants only the whole result: an unbounded channel, read once the request has ended,
    /// so no thread wakes per token (a streaming reader wakes for every chunk, beside the compute threads).
    /// Its size is bounded by the request's max tokens, which the result holds anyway.
    /// </param>
    private (ChannelReader<TokenChunk> Reader, TaskCompletionSource<object> Outcome, StartChannelRequest Message) Prepare(Generate request, double arrivalAt, bool collect = false)
    {
        var channel = collect
            ? Channel.CreateUnbounded<TokenChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true })
            : Channel.CreateBounded<TokenChunk>(new BoundedChannelOptions(Settings.Request.StreamBuffer)
            {
                SingleReader = true,
                SingleWriter = true,
                FullMode = BoundedChannelFullMode.Wait,
            });
        var outcome = new TaskCompletionSource<object>(TaskCreationOptions.RunContinuationsAsynchronously);
        return (channel.Reader, outcome, new StartChannelRequest(request, channel.Writer, outcome, arrivalAt));
    }
}

public sealed class LlmRuntimeProvider : ExtensionIdProvider<LlmRuntime>
{
    public override LlmRuntime CreateExtension(ExtendedActorSystem system) => new(system);
}
