using Akka.Actor;
using Akka.Cluster;
using Actors.Cluster.Configuration;
using ClusterSettings = Actors.Cluster.Configuration.ClusterSettings;
using Actors.Cluster.Protocol;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>
/// A worker node's face to the cluster (at /user/llm-worker): starts the gateways' <see cref="Generate"/>s on
/// the node's own runtime, each writing into a <see cref="RelayWriter"/> (a window of unacknowledged chunks,
/// then the runtime pauses it: backpressure from the gateway's client), and sends what they wrote to each
/// gateway as one <see cref="RelayBatch"/> per flush (<see cref="WorkerOutbox"/>), not one message per request
/// per step; passes <see cref="Cancel"/>s on and watches each gateway (a dead one's requests are cancelled).
/// It also pushes the node's replicas and load (<see cref="WorkerStatus"/>) to every gateway at each report
/// interval. Announcing by push over membership needs nothing beyond Akka.Cluster (no Receptionist or
/// DistributedPubSub package, see docs/cluster.md): a gateway learns a worker from its first report, a lost
/// one from membership.
/// </summary>
internal sealed class WorkerAgent : UntypedActor, IWithTimers
{
    public const string Name = "llm-worker";

    private sealed record Report : INoSerializationVerificationNeeded
    {
        public static readonly Report Instance = new();
    }

    private readonly LlmRuntime _runtime;
    private readonly TimeSpan _interval;
    private readonly Akka.Cluster.Cluster _cluster = Akka.Cluster.Cluster.Get(Context.System);
    private readonly HashSet<Address> _gateways = [];
    private readonly Dictionary<string, RelayWriter> _writers = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, int> _requestsPerGateway = new();
    private readonly WorkerOutbox _outbox;
    private readonly string _devices;

    public ITimerScheduler Timers { get; set; } = null!;

    public WorkerAgent(LlmRuntime runtime, TimeSpan interval)
    {
        _runtime = runtime;
        _interval = interval;
        _devices = string.Join(",", runtime.Devices.Select(d => d.Id));
        _outbox = new WorkerOutbox(Self, runtime.Settings.Request.StreamBuffer);
    }

    public static Props Props(LlmRuntime runtime, TimeSpan interval) => Akka.Actor.Props.Create(() => new WorkerAgent(runtime, interval));

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("report", Report.Instance, _interval);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    /// <summary>
    /// A bug in this actor loses its requests' writers and outbox: each request is cancelled here and its
    /// gateway told it was refused as shutting down, which the gateway answers by placing it again (from
    /// the tokens it has) on another worker. (A node that stops does not restart: its gateways re-admit on
    /// the membership change.)
    /// </summary>
    protected override void PreRestart(Exception reason, object message)
    {
        foreach (var writer in _writers.Values)
        {
            _runtime.Router.Tell(new Cancel(writer.AttemptId));
            var refused = new GenerationRejected(writer.AttemptId, RejectionReason.ShuttingDown, $"the worker's agent failed ({reason.Message}) and restarted");
            writer.Gateway.Tell(new RelayBatch([], [], [refused], _outbox.Window), Self);
        }
        base.PreRestart(reason, message);
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Generate g:
                Start(g);
                break;
            case Cancel c:
                _runtime.Router.Tell(c, Self);
                break;
            case WorkerOutbox.Flush:
                foreach (var (gateway, batch) in _outbox.TakeBatches())
                {
                    gateway.Tell(batch, Self);
                    foreach (var done in batch.Completed) Finished(done.RequestId);
                    foreach (var rejected in batch.Rejected) Finished(rejected.RequestId);
                }
                break;
            case RelayCredit credit:
                for (int i = 0; i < credit.AttemptIds.Length; i++)
                    if (_writers.TryGetValue(credit.AttemptIds[i], out var writer) && writer.Gateway.Equals(Sender)) writer.Credit(credit.Chunks[i]);
                break;
            case Terminated t:
                foreach (var writer in _writers.Values.Where(w => w.Gateway.Equals(t.ActorRef)).ToList())
                {
                    _writers.Remove(writer.AttemptId);
                    _runtime.Router.Tell(new Cancel(writer.AttemptId), Self); // nobody is left to read it
                }
                _requestsPerGateway.Remove(t.ActorRef);
                _outbox.Forget(t.ActorRef);
                break;
            case Report:
                Push(_gateways);
                break;
            case WorkerPing ping:
                Sender.Tell(new WorkerPong(ping.SentAt));
                break;
            case ClusterEvent.MemberUp up when up.Member.HasRole(ClusterSettings.GatewayRole):
                _gateways.Add(up.Member.Address);
                Push([up.Member.Address]); // announce at once: a new worker takes load without waiting a report interval
                break;
            case ClusterEvent.MemberRemoved removed:
                _gateways.Remove(removed.Member.Address);
                break;
            case ClusterEvent.IMemberEvent:
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Start(Generate g)
    {
        var gateway = Sender;
        if (_writers.ContainsKey(g.RequestId))
        {
            var duplicate = new GenerationRejected(g.RequestId, RejectionReason.DuplicateRequestId, $"request id '{g.RequestId}' is already in progress on this worker");
            gateway.Tell(new RelayBatch([], [], [duplicate], _outbox.Window), Self);
            return;
        }
        var writer = new RelayWriter(g.RequestId, gateway, _outbox);
        _writers[g.RequestId] = writer;
        _requestsPerGateway[gateway] = _requestsPerGateway.GetValueOrDefault(gateway) + 1;
        if (_requestsPerGateway[gateway] == 1) Context.Watch(gateway);
        // Set by the runtime after the request's last chunk; the final joins the outbox behind those chunks.
        var outcome = new TaskCompletionSource<object>();
        var outbox = _outbox;
        outcome.Task.ContinueWith(t => outbox.AddFinal(gateway, t.Result), TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion);
        _runtime.StartInto(g, writer, outcome);
    }

    /// <summary>A request's final message went to its gateway: stop watching the gateway when it has no more here.</summary>
    private void Finished(string requestId)
    {
        if (!_writers.Remove(requestId, out var writer)) return;
        var gateway = writer.Gateway;
        if (--_requestsPerGateway[gateway] > 0) return;
        _requestsPerGateway.Remove(gateway);
        Context.Unwatch(gateway);
    }

    private void Push(IEnumerable<Address> gateways)
    {
        var status = Status();
        foreach (var address in gateways)
            Context.ActorSelection(new RootActorPath(address) / "user" / GatewayActor.Name).Tell(status, Self);
    }

    private WorkerStatus Status()
    {
        int replicas = _runtime.Layout.ReplicaCount, waiting = 0, running = 0, used = 0;
        foreach (var g in _runtime.Metrics.Replicas())
        {
            waiting += g.Waiting;
            running += g.Running;
            used += g.BlocksUsed;
        }
        var s = _runtime.Settings.Scheduler;
        return new WorkerStatus(_runtime.Model.Name, replicas, s.MaxRunningSequences * replicas, s.MaxWaiting * replicas,
            waiting, running, used, _runtime.KvCache.NumBlocks * replicas, _devices);
    }
}
