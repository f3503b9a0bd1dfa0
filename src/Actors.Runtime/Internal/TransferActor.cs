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
                var engine = CrossesNodes(path) ? Remote.DataConnectionDelivery.Instance : _engines.GetValueOrDefault(path.Kind, HostCopyEngine.Instance);
                o.Route.StageActors[next].Tell(new RunStage(o.Work, next, o.Route, o.Hidden, path, engine));
                break;
            }
            case TransferMeasured t:
                _accounting.Record(t.Path, t.Bytes, t.Seconds);
                break;
            case RemoteStageMeasured r:
                BookRemote(r);
                break;
            case HostSwapMeasured s:
                // A remote device's swap slots are in this process's memory: its KV pages crossed the network.
                var host = _topology.Device(s.DeviceId).Node == "local" ? _topology.HostPath(s.DeviceId) : _topology.NetworkPath(s.DeviceId, "local");
                _accounting.Record(host with { Measured = true }, s.Bytes, s.Seconds);
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
    /// A remote stage's step: what went out to it on the path from the previous stage's device (from this
    /// process, which holds the scheduler, for a first stage), what came back on the path to the next stage's
    /// device (to this process's sampler, for a last stage). The network's share of the round
    /// trip (less the remote compute) is split between the two directions by bytes.
    /// </summary>
    private void BookRemote(RemoteStageMeasured r)
    {
        var ids = r.Route.StageDeviceIds;
        string self = ids[r.Stage];
        var into = r.Stage > 0 ? Path(ids[r.Stage - 1], self) : _topology.NetworkPath("local", self);
        var outOf = r.Stage < ids.Count - 1 ? Path(self, ids[r.Stage + 1]) : _topology.NetworkPath(self, "local");
        var x = r.Exchange;
        long total = x.SentBytes + x.ReceivedBytes;
        if (total == 0) return;
        double share = (double)x.SentBytes / total;
        _accounting.Record(into with { Measured = true }, x.SentBytes, x.NetworkSeconds * share);
        _accounting.Record(outOf with { Measured = true }, x.ReceivedBytes, x.NetworkSeconds * (1 - share));
    }

    private bool CrossesNodes(TransferPath p) => _topology.Device(p.From).Node != _topology.Device(p.To).Node;

    private TransferPath Path(string from, string to)
    {
        if (!_paths.TryGetValue((from, to), out var p)) _paths[(from, to)] = p = _topology.Choose(from, to);
        return p;
    }
}
