using Akka.Actor;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Internal;

/// <summary>
/// Routes activations between pipeline stages over the path the topology picks for each pair of
/// devices (NVLink, PCIe P2P, host-staged, host memory, network) and accounts every transfer. It
/// only decides and books: the bytes are copied by the receiving device on its own thread, so no
/// bulk copy runs on Akka's default dispatcher.
/// </summary>
internal sealed class TransferActor : UntypedActor
{
    private readonly Topology _topology;
    private readonly TransferAccounting _accounting;
    private readonly Dictionary<(string, string), TransferPath> _paths = new();
    private readonly Timing.LinkTimeline _links;
    private readonly IReadOnlyDictionary<PathKind, ICopyEngine> _engines;

    public TransferActor(Topology topology, TransferAccounting accounting, bool virtualClock, IReadOnlyDictionary<PathKind, ICopyEngine>? engines = null)
    {
        _engines = engines ?? new Dictionary<PathKind, ICopyEngine>();
        _topology = topology;
        _accounting = accounting;
        _links = Timing.LinkTimeline.For(virtualClock, accounting);
    }

    public static Props Props(Topology topology, TransferAccounting accounting, bool virtualClock = false, IReadOnlyDictionary<PathKind, ICopyEngine>? engines = null) =>
        Akka.Actor.Props.Create(() => new TransferActor(topology, accounting, virtualClock, engines));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StageOutput o:
            {
                int next = o.FromStage + 1;
                var path = Path(o.Route.StageDeviceIds[o.FromStage], o.Route.StageDeviceIds[next]);
                o.Work.ReadyAt = _links.Arrive(path, 4L * o.Hidden.Length, o.Work.ReadyAt);
                o.Route.StageActors[next].Tell(new RunStage(o.Work, next, o.Route, o.Hidden, path, _engines.GetValueOrDefault(path.Kind, HostCopyEngine.Instance)));
                break;
            }
            case TransferMeasured t:
                _accounting.Record(t.Path, t.Bytes, t.Seconds);
                break;
            case HostSwapMeasured s:
                _accounting.Record(_topology.HostPath(s.DeviceId) with { Measured = true }, s.Bytes, s.Seconds);
                break;
            case GetTransferReport:
                Sender.Tell(new TransferReport(_topology, _accounting));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private TransferPath Path(string from, string to)
    {
        if (!_paths.TryGetValue((from, to), out var p)) _paths[(from, to)] = p = _topology.Choose(from, to);
        return p;
    }
}
