using Akka.Actor;
using Akka.Cluster;
using Actors.Cluster.Configuration;
using ClusterSettings = Actors.Cluster.Configuration.ClusterSettings;
using Actors.Cluster.Protocol;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>
/// A worker node's face to the cluster (at /user/llm-worker): passes the gateways' <see cref="Generate"/>
/// and <see cref="Cancel"/> to the node's own runtime router and relays the replies to the gateway that
/// asked (watching it: a gateway that dies has its requests here cancelled), keeping every reply inside
/// Akka.Remote's frame (a long generation's per-token gaps are left out of its final message); and pushes
/// the node's replicas and load (<see cref="WorkerStatus"/>) to every gateway at each report interval. Announcing by
/// push over membership needs nothing beyond Akka.Cluster (no Receptionist or DistributedPubSub package,
/// see docs/cluster.md): a gateway learns a worker from its first report, a lost one from membership.
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
    private readonly Dictionary<string, IActorRef> _requester = new(StringComparer.Ordinal);
    private readonly Dictionary<IActorRef, int> _requestsPerGateway = new();

    /// <summary>Per-token gaps kept in a relayed final message: 8,192 doubles are ~74 KB, well inside a 128,000-byte frame.</summary>
    internal const int MaxRelayedInterTokenGaps = 8192;
    private readonly string _devices;

    public ITimerScheduler Timers { get; set; } = null!;

    public WorkerAgent(LlmRuntime runtime, TimeSpan interval)
    {
        _runtime = runtime;
        _interval = interval;
        _devices = string.Join(",", runtime.Devices.Select(d => d.Id));
    }

    public static Props Props(LlmRuntime runtime, TimeSpan interval) => Akka.Actor.Props.Create(() => new WorkerAgent(runtime, interval));

    protected override void PreStart()
    {
        _cluster.Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents, typeof(ClusterEvent.IMemberEvent));
        Timers.StartPeriodicTimer("report", Report.Instance, _interval);
    }

    protected override void PostStop() => _cluster.Unsubscribe(Self);

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case Generate g:
                if (_requester.TryAdd(g.RequestId, Sender))
                {
                    _requestsPerGateway[Sender] = _requestsPerGateway.GetValueOrDefault(Sender) + 1;
                    if (_requestsPerGateway[Sender] == 1) Context.Watch(Sender);
                }
                _runtime.Router.Tell(g, Self);
                break;
            case Cancel c:
                _runtime.Router.Tell(c, Self);
                break;
            case TokenChunk chunk:
                if (_requester.TryGetValue(chunk.RequestId, out var gateway)) gateway.Tell(chunk, Self);
                break;
            case GenerationCompleted done:
                if (Finished(done.RequestId) is { } to)
                    to.Tell(done.Timings.InterTokenMs.Length <= MaxRelayedInterTokenGaps ? done : done with { Timings = done.Timings with { InterTokenMs = [] } }, Self);
                break;
            case GenerationRejected rejected:
                Finished(rejected.RequestId)?.Tell(rejected, Self);
                break;
            case Terminated t:
                foreach (var id in _requester.Where(r => r.Value.Equals(t.ActorRef)).Select(r => r.Key).ToList())
                {
                    _requester.Remove(id);
                    _runtime.Router.Tell(new Cancel(id), Self); // nobody is left to read it
                }
                _requestsPerGateway.Remove(t.ActorRef);
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

    /// <summary>The gateway a finished request's last reply goes to; stops watching it when it has no more here.</summary>
    private IActorRef? Finished(string requestId)
    {
        if (!_requester.Remove(requestId, out var gateway)) return null;
        if (--_requestsPerGateway[gateway] == 0)
        {
            _requestsPerGateway.Remove(gateway);
            Context.Unwatch(gateway);
        }
        return gateway;
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
