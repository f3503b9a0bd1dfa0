using System.Diagnostics;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Event;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>Start a request whose chunks go to a bounded channel (streams, IAsyncEnumerable).</summary>
internal sealed record StartChannelRequest(Generate Request, ChannelWriter<TokenChunk> Writer, TaskCompletionSource<object> Outcome, double ArrivalAt = double.NaN)
    : INoSerializationVerificationNeeded;

/// <summary>Start several channel requests at once (see <see cref="RouterActor"/>: all count as in transit before any starts).</summary>
internal sealed record StartChannelRequests(IReadOnlyList<StartChannelRequest> Requests) : INoSerializationVerificationNeeded;

/// <summary>Start the n choices of one request on one replica, where they share the prompt's computation and KV blocks (see <see cref="ChoiceGroup"/>).</summary>
internal sealed record StartChoices(IReadOnlyList<StartChannelRequest> Choices) : INoSerializationVerificationNeeded;

/// <summary>The replicas a router spreads requests over.</summary>
/// <param name="InTransit">Requests started towards this replica whose EnqueueSequence has not reached the scheduler yet.</param>
/// <param name="Health">Whether the replica takes requests (its scheduler keeps it up to date).</param>
internal sealed record ReplicaHandle(int Replica, IActorRef Scheduler, ReplicaGauges Gauges, int BlockSize, RequestsInTransit InTransit, ReplicaHealth Health);

/// <summary>
/// A count shared by the router (which starts requests), request actors and the scheduler (which
/// receives them): on the virtual clock the scheduler must not run ahead of a request still on its way.
/// </summary>
internal sealed class RequestsInTransit
{
    private int _count;
    public int Count => Volatile.Read(ref _count);
    public void Started() => Interlocked.Increment(ref _count);
    public void Arrived() => Interlocked.Decrement(ref _count);
}

/// <summary>
/// The runtime's front door: receives <see cref="Generate"/> and <see cref="Cancel"/>, starts one
/// request actor per request on the replica with the most free KV blocks and fewest queued tokens,
/// and rejects duplicate request ids. Sequences stay on their replica. Replicas out of rotation (failed,
/// or with a step overdue) get nothing new; with none healthy a request is rejected as unavailable.
/// Supervision: a request actor that fails is stopped (its PostStop gives the request its terminal
/// reply and frees its blocks); a restart would re-run PreStart and enqueue the request twice.
/// </summary>
internal sealed class RouterActor : UntypedActor
{
    private readonly IReadOnlyList<ReplicaHandle> _replicas;
    private readonly RequestContext _context;
    private readonly Dictionary<string, IActorRef> _active = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, (string Id, int Replica, long SequenceId)> _byActor = new();
    private readonly int[] _activePerReplica;
    private readonly ReplicaLoad[] _loads;
    private long _nextSequenceId;

    public RouterActor(IReadOnlyList<ReplicaHandle> replicas, RequestContext context)
    {
        _replicas = replicas;
        _context = context;
        _loads = new ReplicaLoad[replicas.Count];
        _activePerReplica = new int[replicas.Count];
    }

    public static Props Props(IReadOnlyList<ReplicaHandle> replicas, RequestContext context) =>
        Akka.Actor.Props.Create(() => new RouterActor(replicas, context));

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(error =>
    {
        Context.GetLogger().Error(error, "a request actor failed ({0}); stopping it: its request ends with an error", error.Message);
        return Directive.Stop;
    });

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Generate g:
                Start(g, new ActorSink(Sender, Self), double.NaN);
                break;
            case StartChannelRequest s:
                Start(s.Request, new ChannelSink(s.Writer, s.Outcome), s.ArrivalAt);
                break;
            case StartChannelRequests batch:
                StartAll(batch.Requests);
                break;
            case StartChoices choices:
                StartChoices(choices.Choices);
                break;
            case Cancel c:
                if (_active.TryGetValue(c.RequestId, out var actor)) actor.Forward(c);
                break;
            case MigrateRequest m:
                Migrate(m);
                break;
            case Migrated moved:
                if (_active.TryGetValue(moved.RequestId, out var movedActor) && _byActor.TryGetValue(movedActor, out var was))
                {
                    _activePerReplica[was.Replica]--;
                    _activePerReplica[moved.Replica]++;
                    _byActor[movedActor] = (was.Id, moved.Replica, was.SequenceId);
                }
                break;
            case Terminated t:
                if (_byActor.Remove(t.ActorRef, out var entry))
                {
                    _active.Remove(entry.Id);
                    _activePerReplica[entry.Replica]--;
                }
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Start(Generate g, IResponseSink sink, double arrivalAt)
    {
        long arrival = Stopwatch.GetTimestamp();
        if (!TryReserve(g, sink, null, out int index, out long sequenceId)) return;
        Spawn(g, sink, index, sequenceId, arrival, arrivalAt);
    }

    /// <summary>
    /// Starts a batch as if its requests had come one by one, except that every one of them counts as
    /// in transit to its scheduler before the first request actor exists: on the virtual clock no
    /// scheduler begins before the whole batch has arrived, so a simulation does not depend on thread
    /// timing. Arrival stamps increase in batch order, which fixes the queue order.
    /// </summary>
    private void StartAll(IReadOnlyList<StartChannelRequest> batch)
    {
        long arrival = Stopwatch.GetTimestamp();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var reserved = new List<(StartChannelRequest Request, IResponseSink Sink, int Replica, long SequenceId)>(batch.Count);
        foreach (var s in batch)
        {
            var sink = new ChannelSink(s.Writer, s.Outcome);
            if (TryReserve(s.Request, sink, ids, out int index, out long sequenceId)) reserved.Add((s, sink, index, sequenceId));
        }
        // Stamps must differ after conversion to TimeSpan (100 ns) or ties fall back to the order the
        // request actors happen to reach the scheduler in.
        long apart = Math.Max(1, (Stopwatch.Frequency + TimeSpan.TicksPerSecond - 1) / TimeSpan.TicksPerSecond);
        for (int i = 0; i < reserved.Count; i++)
        {
            var (s, sink, index, sequenceId) = reserved[i];
            Spawn(s.Request, sink, index, sequenceId, arrival + i * apart, s.ArrivalAt);
        }
    }

    /// <summary>
    /// Starts a request's choices on the replica chosen for the first, as one <see cref="ChoiceGroup"/>
    /// (the choices that pass the id checks); its scheduler admits them together.
    /// </summary>
    private void StartChoices(IReadOnlyList<StartChannelRequest> choices)
    {
        long arrival = Stopwatch.GetTimestamp();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var reserved = new List<(StartChannelRequest Request, IResponseSink Sink, long SequenceId)>(choices.Count);
        int replica = -1;
        foreach (var s in choices)
        {
            var sink = new ChannelSink(s.Writer, s.Outcome);
            if (!TryReserve(s.Request, sink, ids, out int index, out long sequenceId, replica)) continue;
            replica = index;
            reserved.Add((s, sink, sequenceId));
        }
        var group = reserved.Count > 1 ? new ChoiceGroup(reserved[0].SequenceId, reserved.Count) : null;
        foreach (var (s, sink, sequenceId) in reserved) Spawn(s.Request, sink, replica, sequenceId, arrival, s.ArrivalAt, group);
    }

    /// <summary>
    /// Checks the request id (not empty, not in progress, not earlier in <paramref name="batch"/>), picks
    /// the replica and counts the request as in transit there; rejects through the sink otherwise.
    /// </summary>
    private bool TryReserve(Generate g, IResponseSink sink, HashSet<string>? batch, out int index, out long sequenceId, int replica = -1)
    {
        index = -1;
        sequenceId = 0;
        if (string.IsNullOrEmpty(g.RequestId))
        {
            sink.Reject(new GenerationRejected(g.RequestId ?? "", RejectionReason.InvalidParameters, "the request id is empty"));
            return false;
        }
        if (_active.ContainsKey(g.RequestId) || (batch is not null && !batch.Add(g.RequestId)))
        {
            sink.Reject(new GenerationRejected(g.RequestId, RejectionReason.DuplicateRequestId, $"request id '{g.RequestId}' is already in progress"));
            return false;
        }
        index = replica >= 0 ? replica : ChooseReplica();
        if (index < 0)
        {
            sink.Reject(new GenerationRejected(g.RequestId, RejectionReason.Unavailable,
                "no healthy replica: " + string.Join("; ", _replicas.Select(r => r.Health.Problem ?? $"replica {r.Replica}: healthy"))));
            return false;
        }
        sequenceId = ++_nextSequenceId;
        _replicas[index].InTransit.Started();
        _activePerReplica[index]++;
        return true;
    }

    private void Spawn(Generate g, IResponseSink sink, int index, long sequenceId, long arrival, double arrivalAt, ChoiceGroup? group = null)
    {
        var replica = _replicas[index];
        var actor = Context.ActorOf(FactoryProducer<RequestActor>.Props(() => new RequestActor(g, sink, replica.Scheduler, _context, sequenceId, arrival, arrivalAt, replica.InTransit, group)),
            $"request-{sequenceId}");
        Context.Watch(actor);
        _active[g.RequestId] = actor;
        _byActor[actor] = (g.RequestId, index, sequenceId);
    }

    private void Migrate(MigrateRequest m)
    {
        if (!_active.TryGetValue(m.RequestId, out var actor) || !_byActor.TryGetValue(actor, out var entry))
        {
            Sender.Tell(new MigrationFailed(m.RequestId, $"request '{m.RequestId}' is not in progress"));
            return;
        }
        if ((uint)m.TargetReplica >= (uint)_replicas.Count)
        {
            Sender.Tell(new MigrationFailed(m.RequestId, $"replica {m.TargetReplica} does not exist (replicas 0..{_replicas.Count - 1})"));
            return;
        }
        if (m.TargetReplica == entry.Replica)
        {
            Sender.Tell(new MigrationFailed(m.RequestId, $"request '{m.RequestId}' already runs on replica {m.TargetReplica}"));
            return;
        }
        _replicas[entry.Replica].Scheduler.Tell(new ExportSequence(entry.SequenceId, m.RequestId, _replicas[m.TargetReplica], Sender, Self));
    }

    /// <summary>The healthy replica to start a request on, or -1 when none is healthy.</summary>
    private int ChooseReplica()
    {
        if (_replicas.Count == 1) return _replicas[0].Health.IsHealthy ? 0 : -1;
        bool any = false;
        for (int i = 0; i < _replicas.Count; i++)
        {
            var g = _replicas[i].Gauges;
            bool healthy = _replicas[i].Health.IsHealthy;
            any |= healthy;
            // Free blocks as last published; queued work as the requests this router has sent there and
            // not yet seen finish (the gauges lag behind a burst of arrivals, this count does not).
            // An unhealthy replica ranks below every healthy one.
            _loads[i] = healthy ? new ReplicaLoad(g.BlocksFree + g.BlocksCachedFree, _activePerReplica[i]) : new ReplicaLoad(-1, long.MaxValue);
        }
        return any ? ReplicaRouter.Choose(_loads) : -1;
    }
}
