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
    private readonly Dictionary<string, VirtualLinkCalendar> _calendars = new();
    private readonly bool _virtualClock;
    private readonly IReadOnlyDictionary<PathKind, ICopyEngine> _engines;

    public TransferActor(Topology topology, TransferAccounting accounting, bool virtualClock, IReadOnlyDictionary<PathKind, ICopyEngine>? engines = null)
    {
        _engines = engines ?? new Dictionary<PathKind, ICopyEngine>();
        _topology = topology;
        _accounting = accounting;
        _virtualClock = virtualClock;
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
                if (_virtualClock) o.Work.ReadyAt = VirtualTransfer(path, 4L * o.Hidden.Length, o.Work.ReadyAt);
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

    /// <summary>
    /// Virtual clock: the copy starts when its data is ready and its link is free, and takes latency plus
    /// bytes over bandwidth. Transfers on one link queue behind each other; every host-staged copy shares
    /// the host (its PCIe root and memory), so they queue together. Copies arrive here out of virtual
    /// order, so each link keeps a calendar rather than a single "busy until" (see <see cref="VirtualLinkCalendar"/>).
    /// </summary>
    private double VirtualTransfer(TransferPath path, long bytes, double readyAt)
    {
        if (path.Kind == PathKind.SameDevice) return readyAt;
        string link = path.Kind == PathKind.HostStaged ? "host" : path.Kind == PathKind.Network ? "network" : path.From + ">" + path.To;
        if (!_calendars.TryGetValue(link, out var calendar)) _calendars[link] = calendar = new VirtualLinkCalendar();
        double seconds = path.EstimateSeconds(bytes);
        double start = calendar.Reserve(readyAt, seconds);
        _accounting.Record(path, bytes, seconds);
        return start + seconds;
    }

    private TransferPath Path(string from, string to)
    {
        if (!_paths.TryGetValue((from, to), out var p)) _paths[(from, to)] = p = _topology.Choose(from, to);
        return p;
    }
}
