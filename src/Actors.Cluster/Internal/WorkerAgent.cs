using Akka.Actor;
using Akka.Cluster;
using Actors.Cluster.Configuration;
using ClusterSettings = Actors.Cluster.Configuration.ClusterSettings;
using Actors.Cluster.Protocol;
using Actors.Runtime;
using Actors.Runtime.Protocol;

namespace Actors.Cluster.Internal;

/// <summary>
/// A worker node's face to the cluster (at /user/llm-worker): forwards the gateways' <see cref="Generate"/>
/// and <see cref="Cancel"/> to the node's own runtime router (so the replies go straight back to the gateway
/// and the router watches it: a gateway that dies cancels its requests here), and pushes the node's
/// replicas and load (<see cref="WorkerStatus"/>) to every gateway at each report interval. Announcing by
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
            case Generate or Cancel:
                _runtime.Router.Forward(message);
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
