using System.Diagnostics;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Actors.Cluster.Configuration;
using ClusterSettings = Actors.Cluster.Configuration.ClusterSettings;
using Actors.Cluster.Protocol;
using Actors.Cluster.Routing;
using Actors.Inference.Tokenization;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>What a gateway needs besides its options: the model's tokenizer (prompts are routed as tokens) and request defaults.</summary>
/// <param name="MaxMessageBytes">Akka.Remote's frame size: a request that would not fit is refused, never silently dropped.</param>
internal sealed record GatewayContext(Tokenizer Tokenizer, int DefaultMaxTokens, GatewayOptions Options, long MaxMessageBytes = 128_000);

/// <summary>
/// The cluster's front door (at /user/llm-gateway on gateway nodes). Learns workers from their load reports
/// (<see cref="WorkerStatus"/>, pushed by each worker's <see cref="WorkerAgent"/>) and their loss from cluster
/// membership (unreachable, leaving, removed) and death watch; places every request on a worker by
/// <see cref="WorkerChooser"/> (load and prefix affinity) and relays its chunks to the client under the
/// client's id. Supervision: it owns the tracking of every request; when a worker is lost each request it
/// held is re-admitted elsewhere from prompt + streamed tokens (<see cref="RequestTrack"/>), and every
/// request ends with exactly one terminal reply: the worker's final message, or the gateway's own error
/// when it cannot be placed within actors-cluster.gateway.placement-timeout or max-readmissions.
/// </summary>
internal sealed class GatewayActor : UntypedActor, IWithTimers
{
    public const string Name = "llm-gateway";

    private sealed class Worker(string name, IActorRef agent, WorkerStatus status)
    {
        public string Name { get; } = name;
        public IActorRef Agent { get; } = agent;
        public WorkerStatus Status { get; set; } = status;
        public int InFlight => Requests.Count;
        public long Placed { get; set; }
        public double RoundTripMs { get; set; } = double.NaN;
        public long TokensRelayed { get; set; }
        public long RelayBatches { get; set; }
        public HashSet<string> Requests { get; } = new(StringComparer.Ordinal);
    }

    private sealed class Entry(RequestTrack track, IClientSink client)
    {
        public RequestTrack Track { get; } = track;
        public IClientSink Client { get; } = client;
        /// <summary>Chunks of the current attempt received and not yet credited back to its worker.</summary>
        public int Uncredited { get; set; }
    }

    /// <summary>A channel client's reader took its whole backlog (local only).</summary>
    private sealed record ClientCaughtUp(string RequestId) : INoSerializationVerificationNeeded;

    private sealed record RetryPlacement : INoSerializationVerificationNeeded
    {
        public static readonly RetryPlacement Instance = new();
    }

    private sealed record ProbePaths : INoSerializationVerificationNeeded
    {
        public static readonly ProbePaths Instance = new();
    }

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(50);
    private const int FrameMargin = 4096;

    private readonly GatewayContext _ctx;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, Worker> _workers = new(StringComparer.Ordinal);
    private readonly HashSet<Address> _upWorkers = [];
    private readonly HashSet<Address> _unreachable = [];
    private readonly Dictionary<string, Entry> _requests = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Entry> _attempts = new(StringComparer.Ordinal);
    private readonly List<Entry> _pending = [];
    private readonly PrefixAffinity _affinity;
    private readonly int[] _endOfGeneration;
    private readonly Dictionary<IActorRef, int> _requestsPerClient = new();
    private readonly List<WorkerLoad> _loads = [];
    private readonly List<Worker> _candidates = [];
    private readonly List<string> _creditIds = [];
    private readonly List<int> _creditCounts = [];
    private long _readmitted, _readmittedTokens, _failedTerminally;
    private double _lastFailoverMs = double.NaN, _lastFailoverAllMs = double.NaN;
    private int _resumeLeft; // re-admitted requests of the last loss still without a token

    public ITimerScheduler Timers { get; set; } = null!;

    public GatewayActor(GatewayContext ctx)
    {
        _ctx = ctx;
        _affinity = new PrefixAffinity(ctx.Options.AffinityCapacity);
        var tokenizer = ctx.Tokenizer;
        _endOfGeneration = [.. tokenizer.EosId >= 0 ? [tokenizer.EosId] : Array.Empty<int>(), .. tokenizer.EndOfGenerationIds];
    }

    public static Props Props(GatewayContext ctx) => Akka.Actor.Props.Create(() => new GatewayActor(ctx));

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
        Context.System.EventStream.Subscribe(Self, typeof(Akka.Remote.DisassociatedEvent));
        Timers.StartPeriodicTimer("probe", ProbePaths.Instance, ProbeInterval);
    }

    protected override void PostStop()
    {
        _cluster.Unsubscribe(Self);
        Context.System.EventStream.Unsubscribe(Self);
        foreach (var e in _requests.Values.ToList())
            Terminal(e, RejectionReason.ShuttingDown, "the gateway stopped");
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Generate g:
                Start(g, new ActorClient(Sender, Self));
                break;
            case StartChannelRequest s:
                var self = Self;
                string requestId = s.Request.RequestId;
                Start(s.Request, new ChannelClient(s.Writer, s.Outcome, () => self.Tell(new ClientCaughtUp(requestId))));
                break;
            case Cancel c:
                CancelRequest(c.RequestId);
                break;
            case RelayBatch batch:
                OnBatch(batch);
                break;
            case ClientCaughtUp caughtUp:
                if (_requests.TryGetValue(caughtUp.RequestId, out var caught) && caught.Uncredited > 0 && caught.Track.Worker is { } at
                    && _workers.TryGetValue(at, out var holder))
                {
                    holder.Agent.Tell(new RelayCredit([caught.Track.AttemptId], [caught.Uncredited]), Self);
                    caught.Uncredited = 0;
                }
                break;
            case WorkerStatus status:
                OnStatus(status);
                break;
            case ClusterEvent.MemberUp up when up.Member.HasRole(ClusterSettings.WorkerRole):
                _upWorkers.Add(up.Member.Address);
                break;
            case ClusterEvent.MemberStatusChange change when change.Member.Status is MemberStatus.Leaving or MemberStatus.Exiting or MemberStatus.Down or MemberStatus.Removed:
                _upWorkers.Remove(change.Member.Address);
                if (change is ClusterEvent.MemberRemoved) _unreachable.Remove(change.Member.Address);
                Lost(change.Member.Address, $"it is {change.Member.Status.ToString().ToLowerInvariant()}");
                break;
            case ClusterEvent.UnreachableMember u:
                _unreachable.Add(u.Member.Address);
                Lost(u.Member.Address, "it is unreachable");
                break;
            case ClusterEvent.ReachableMember r:
                _unreachable.Remove(r.Member.Address);
                break;
            case Akka.Remote.DisassociatedEvent d:
                // A killed process's connection closes at once, seconds before the failure detector marks it
                // unreachable: re-admit now. If the worker is in fact alive, its next report brings it back
                // (its late chunks carry the old attempt ids and are dropped), so this costs work, never tokens.
                Lost(d.RemoteAddress, "its connection closed");
                break;
            case Terminated t:
                if (_workers.Values.FirstOrDefault(w => w.Agent.Equals(t.ActorRef)) is not null) Lost(AddressOf(t.ActorRef), "its agent stopped");
                else ClientGone(t.ActorRef);
                break;
            case RetryPlacement:
                RetryPending();
                break;
            case ProbePaths:
                foreach (var w in _workers.Values) w.Agent.Tell(new WorkerPing(Stopwatch.GetTimestamp()));
                break;
            case WorkerPong pong:
                if (_workers.TryGetValue(AddressOf(Sender).ToString(), out var pinged)) pinged.RoundTripMs = ElapsedMs(pong.SentAt);
                break;
            case GetClusterTopology:
                Sender.Tell(Topology());
                break;
            case ClusterEvent.IMemberEvent or ClusterEvent.IReachabilityEvent:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private double ElapsedMs(long since) => Stopwatch.GetElapsedTime(since).TotalMilliseconds;

    private void Start(Generate g, IClientSink client)
    {
        if (string.IsNullOrEmpty(g.RequestId))
        {
            client.Rejected(new GenerationRejected(g.RequestId ?? "", RejectionReason.InvalidParameters, "the request id is empty"));
            return;
        }
        if (_requests.ContainsKey(g.RequestId))
        {
            client.Rejected(new GenerationRejected(g.RequestId, RejectionReason.DuplicateRequestId, $"request id '{g.RequestId}' is already in progress"));
            return;
        }
        int[] prompt;
        try
        {
            prompt = Tokenize(g);
        }
        catch (ArgumentException ex)
        {
            client.Rejected(new GenerationRejected(g.RequestId, RejectionReason.InvalidParameters, ex.Message));
            return;
        }
        int maxTokens = g.MaxTokens ?? _ctx.DefaultMaxTokens;
        if (maxTokens < 1)
        {
            client.Rejected(new GenerationRejected(g.RequestId, RejectionReason.InvalidParameters, $"max tokens = {maxTokens} must be at least 1"));
            return;
        }
        var track = new RequestTrack(g, prompt, maxTokens, _endOfGeneration, PrefixAffinity.Key(prompt, _ctx.Options.AffinityTokens), Stopwatch.GetTimestamp(),
            _ctx.Tokenizer.CreateStreamDecoder());
        var entry = new Entry(track, client);
        _requests[g.RequestId] = entry;
        if (client.Watch is { } watched)
        {
            _requestsPerClient[watched] = _requestsPerClient.GetValueOrDefault(watched) + 1;
            if (_requestsPerClient[watched] == 1) Context.Watch(watched);
        }
        Place(entry);
    }

    /// <summary>
    /// A restart (a bug in this actor) loses the tracking: PostStop, which the default PreRestart calls,
    /// has already given every request its terminal reply, so nothing hangs.
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        _log.Error(reason, "gateway failed on {0}; ending its {1} request(s) with an error", message.GetType().Name, _requests.Count);
        base.PreRestart(reason, message);
    }

    /// <summary>The prompt as the worker's request actor would tokenize it (the gateway routes and resumes by tokens).</summary>
    private int[] Tokenize(Generate g)
    {
        if ((g.Prompt is null) == (g.PromptTokens is null)) throw new ArgumentException("give exactly one of prompt (text) and prompt tokens");
        int[] tokens = g.PromptTokens ?? _ctx.Tokenizer.Encode(g.Prompt!, g.AddBos, g.ParseSpecialTokens);
        if (tokens.Length == 0) throw new ArgumentException("the prompt is empty");
        int vocab = _ctx.Tokenizer.VocabSize;
        for (int i = 0; i < tokens.Length; i++)
            if ((uint)tokens[i] >= (uint)vocab)
                throw new ArgumentException($"prompt token {tokens[i]} at position {i} is outside the vocabulary 0..{vocab - 1}");
        return tokens;
    }

    /// <summary>Sends the request's next attempt to the chosen worker, or queues it until one can take it.</summary>
    private void Place(Entry e)
    {
        var track = e.Track;
        if (track.FinishedByTokens() is { } finished)
        {
            Done(e);
            if (track.Tail(finished) is { } tail) e.Client.Chunk(tail);
            e.Client.Completed(track.Finish(finished, ElapsedMs(track.StartedAt)));
            return;
        }
        _loads.Clear();
        _candidates.Clear();
        foreach (var w in _workers.Values)
        {
            if (w.Name == track.Avoid) continue;
            var s = w.Status;
            _candidates.Add(w);
            _loads.Add(new WorkerLoad(w.Name, w.InFlight, s.Waiting + s.Running, s.MaxRunning, s.MaxWaiting,
                s.BlocksTotal > 0 ? (double)s.BlocksUsed / s.BlocksTotal : 0));
        }
        string? affinity = track.PrefixKey is { } key ? _affinity.Lookup(key) : null;
        int chosen = WorkerChooser.Choose(_loads, affinity, _ctx.Options.AffinitySlack, _ctx.Options.KvFullFraction);
        if (chosen < 0)
        {
            track.Avoid = null;
            if (track.PendingSince is null)
            {
                track.PendingSince = Stopwatch.GetTimestamp();
                _pending.Add(e);
            }
            if (!Timers.IsTimerActive("retry")) Timers.StartPeriodicTimer("retry", RetryPlacement.Instance, RetryInterval);
            return;
        }
        var worker = _candidates[chosen];
        string name = _loads[chosen].Worker;
        var attempt = track.NextAttempt();
        // Akka.Remote drops a message over its frame (and the request would wait for ever): refuse it here.
        int bytes = MessagePack.MessagePackSerializer.Serialize(attempt).Length;
        if (bytes > _ctx.MaxMessageBytes - FrameMargin)
        {
            if (track.PendingSince is not null) _pending.Remove(e);
            Terminal(e, RejectionReason.PromptTooLong, $"a prompt of {attempt.PromptTokens!.Length} tokens is {bytes} bytes on the wire, over Akka.Remote's frame of {_ctx.MaxMessageBytes} bytes less {FrameMargin} for the envelope (akka.remote.dot-netty.tcp.maximum-frame-size)");
            return;
        }
        if (track.PendingSince is not null)
        {
            track.PendingSince = null;
            _pending.Remove(e);
        }
        track.Avoid = null;
        track.Worker = name;
        e.Uncredited = 0; // the new attempt's worker starts with a whole window
        _attempts[attempt.RequestId] = e;
        worker.Requests.Add(track.Id);
        worker.Placed++;
        if (track.PrefixKey is { } k) _affinity.Record(k, name);
        worker.Agent.Tell(attempt, Self);
    }

    private void RetryPending()
    {
        foreach (var e in _pending.ToList())
        {
            var track = e.Track;
            if (track.PendingSince is { } since && Stopwatch.GetElapsedTime(since) > _ctx.Options.PlacementTimeout)
            {
                _pending.Remove(e);
                Terminal(e, RejectionReason.QueueFull,
                    _workers.Count == 0
                        ? $"no worker in the cluster to run request '{track.Id}' for {_ctx.Options.PlacementTimeout.TotalSeconds:0.###} s (actors-cluster.gateway.placement-timeout)"
                        : $"every worker stayed full for {_ctx.Options.PlacementTimeout.TotalSeconds:0.###} s (actors-cluster.gateway.placement-timeout)");
                continue;
            }
            Place(e);
        }
        if (_pending.Count == 0) Timers.Cancel("retry");
    }

    /// <summary>
    /// One worker's replies since its last batch: each chunk to its client, then each final message; the
    /// chunks the clients took go back as one <see cref="RelayCredit"/> (each request every half window).
    /// </summary>
    private void OnBatch(RelayBatch batch)
    {
        int creditEvery = Math.Max(1, batch.Window / 2);
        if (_workers.TryGetValue(AddressOf(Sender).ToString(), out var from)) from.RelayBatches++;
        foreach (var chunk in batch.Chunks)
        {
            if (!_attempts.TryGetValue(chunk.RequestId, out var e) || e.Track.AttemptId != chunk.RequestId) continue; // an earlier attempt's
            e.Uncredited++;
            OnChunk(e, chunk);
            if (e.Uncredited >= creditEvery && _attempts.ContainsKey(chunk.RequestId) && e.Client.Backlog == 0)
            {
                _creditIds.Add(chunk.RequestId);
                _creditCounts.Add(e.Uncredited);
                e.Uncredited = 0;
            }
        }
        if (_creditIds.Count > 0)
        {
            Sender.Tell(new RelayCredit([.. _creditIds], [.. _creditCounts]), Self);
            _creditIds.Clear();
            _creditCounts.Clear();
        }
        foreach (var done in batch.Completed)
            if (_attempts.TryGetValue(done.RequestId, out var e) && e.Track.AttemptId == done.RequestId) OnCompleted(e, done);
        foreach (var rejected in batch.Rejected)
            if (_attempts.TryGetValue(rejected.RequestId, out var e) && e.Track.AttemptId == rejected.RequestId) OnRejected(e, rejected);
    }

    private void OnChunk(Entry e, TokenChunk chunk)
    {
        var track = e.Track;
        if (track.LostAt is { } lostAt && chunk.TokenIds.Length > 0)
        {
            double ms = ElapsedMs(lostAt);
            if (double.IsNaN(_lastFailoverMs)) _lastFailoverMs = ms;
            if (--_resumeLeft == 0) _lastFailoverAllMs = ms;
            track.LostAt = null;
        }
        _workers.TryGetValue(track.Worker ?? "", out var worker);
        if (worker is not null) worker.TokensRelayed += chunk.TokenIds.Length;
        bool stoppedBefore = track.StoppedByText;
        if (track.Accept(chunk, ElapsedMs(track.StartedAt)) is { } accepted) e.Client.Chunk(accepted);
        if (!track.StoppedByText || stoppedBefore || track.Attempts == 1) return;
        // A stop string that began before the re-admission: the new worker has not seen its start, so it will
        // not stop here (on a first attempt its own matcher stops on this same token and its final follows).
        worker?.Agent.Tell(new Cancel(track.AttemptId), Self);
        Done(e);
        e.Client.Completed(track.Finish(FinishReason.Stop, ElapsedMs(track.StartedAt)));
    }

    private void OnCompleted(Entry e, GenerationCompleted done)
    {
        Done(e);
        if (e.Track.Tail(done.Reason) is { } tail) e.Client.Chunk(tail);
        e.Client.Completed(e.Track.Complete(done, ElapsedMs(e.Track.StartedAt)));
    }

    private void OnRejected(Entry e, GenerationRejected rejected)
    {
        var track = e.Track;
        string? worker = track.Worker;
        Release(e);
        if (rejected.Reason is RejectionReason.QueueFull or RejectionReason.ShuttingDown && !track.CancelRequested)
        {
            track.Avoid = worker; // full (or stopping) there: fall back to another worker, or wait
            Place(e);
            return;
        }
        Done(e);
        if (track.ChunksSent == 0) e.Client.Rejected(rejected with { RequestId = track.Id });
        else e.Client.Completed(track.Finish(FinishReason.Error, ElapsedMs(track.StartedAt), rejected.Message));
    }

    private void CancelRequest(string id)
    {
        if (!_requests.TryGetValue(id, out var e)) return;
        var track = e.Track;
        track.CancelRequested = true;
        if (track.Worker is { } name && _workers.TryGetValue(name, out var w))
        {
            w.Agent.Tell(new Cancel(track.AttemptId), Self); // the worker's final message (reason Cancelled) ends it
            return;
        }
        _pending.Remove(e);
        Done(e);
        e.Client.Completed(track.Finish(FinishReason.Cancelled, ElapsedMs(track.StartedAt)));
    }

    private void ClientGone(IActorRef client)
    {
        foreach (var e in _requests.Values.Where(e => client.Equals(e.Client.Watch)).ToList()) CancelRequest(e.Track.Id);
    }

    /// <summary>A worker's cluster address (a worker on the gateway's own node has a local-scope path).</summary>
    private Address AddressOf(IActorRef actor) => actor.Path.Address.HasLocalScope ? _cluster.SelfAddress : actor.Path.Address;

    private void OnStatus(WorkerStatus status)
    {
        var address = AddressOf(Sender);
        string name = address.ToString();
        if (_workers.TryGetValue(name, out var known))
        {
            known.Status = status;
            return;
        }
        // Reports from a worker that is leaving, down or unreachable (still on their way) do not bring it back.
        if (!_upWorkers.Contains(address) || _unreachable.Contains(address)) return;
        _workers[name] = new Worker(name, Sender, status);
        Context.Watch(Sender);
        _log.Info("worker {0} joined: {1} replica(s) of {2} on {3}", name, status.Replicas, status.Model, status.Devices);
        Sender.Tell(new WorkerPing(Stopwatch.GetTimestamp()));
        if (_pending.Count > 0) RetryPending();
    }

    /// <summary>A worker is gone (or going): every request it held is re-admitted elsewhere from prompt + streamed tokens.</summary>
    private void Lost(Address address, string why)
    {
        string name = address.ToString();
        if (!_workers.Remove(name, out var worker)) return;
        Context.Unwatch(worker.Agent);
        _log.Warning("worker {0} lost ({1}): re-admitting its {2} request(s)", name, why, worker.Requests.Count);
        long now = Stopwatch.GetTimestamp();
        (_lastFailoverMs, _lastFailoverAllMs, _resumeLeft) = (double.NaN, double.NaN, 0);
        foreach (var id in worker.Requests.ToList())
        {
            var e = _requests[id];
            var track = e.Track;
            worker.Agent.Tell(new Cancel(track.AttemptId), Self); // in case it is only unreachable for a while
            _attempts.Remove(track.AttemptId);
            track.Worker = null;
            if (track.CancelRequested)
            {
                Done(e);
                e.Client.Completed(track.Finish(FinishReason.Cancelled, ElapsedMs(track.StartedAt)));
                continue;
            }
            if (!track.TryReadmit(_ctx.Options.MaxReadmissions))
            {
                Terminal(e, RejectionReason.ShuttingDown, $"request '{id}' lost its worker {track.Readmissions + 1} times (actors-cluster.gateway.max-readmissions = {_ctx.Options.MaxReadmissions})");
                continue;
            }
            track.LostAt = now;
            _resumeLeft++;
            _readmitted++;
            _readmittedTokens += track.Generated.Count;
            Place(e);
        }
        worker.Requests.Clear();
    }

    /// <summary>Takes the request off its worker's count (its attempt is over there).</summary>
    private void Release(Entry e)
    {
        var track = e.Track;
        _attempts.Remove(track.AttemptId);
        if (track.Worker is { } name && _workers.TryGetValue(name, out var w)) w.Requests.Remove(track.Id);
        track.Worker = null;
    }

    private void Done(Entry e)
    {
        Release(e);
        if (!_requests.Remove(e.Track.Id) || e.Client.Watch is not { } watched) return;
        if (--_requestsPerClient[watched] > 0) return;
        _requestsPerClient.Remove(watched);
        Context.Unwatch(watched);
    }

    private void Terminal(Entry e, RejectionReason reason, string message)
    {
        Done(e);
        _failedTerminally++;
        _log.Warning("request {0} failed: {1}", e.Track.Id, message);
        switch (e.Track.Fail(reason, message, ElapsedMs(e.Track.StartedAt)))
        {
            case GenerationRejected r:
                e.Client.Rejected(r);
                break;
            case GenerationCompleted c:
                e.Client.Completed(c);
                break;
        }
    }

    private ClusterTopology Topology()
    {
        var state = _cluster.State;
        var nodes = state.Members.Select(m => new NodeInfo(m.Address.ToString(), m.Roles.OrderBy(r => r, StringComparer.Ordinal).ToArray(),
            m.Status.ToString().ToLowerInvariant(), !state.Unreachable.Contains(m))).ToArray();
        var workers = _workers.OrderBy(w => w.Key, StringComparer.Ordinal)
            .Select(w => new WorkerInfo(w.Key, w.Value.Status, w.Value.InFlight, w.Value.Placed, w.Value.RoundTripMs, w.Value.TokensRelayed, w.Value.RelayBatches)).ToArray();
        return new ClusterTopology(nodes, workers, _readmitted, _readmittedTokens, _lastFailoverMs, _failedTerminally, _lastFailoverAllMs);
    }
}
