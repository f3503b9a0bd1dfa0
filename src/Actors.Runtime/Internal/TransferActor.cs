using Akka.Actor;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Internal;

/// <summary>Asks for the transfer accounting and the chosen paths (for `actors topology` and reports).</summary>
internal sealed record GetTransferReport : INoSerializationVerificationNeeded
{
    public static readonly GetTransferReport Instance = new();
}

internal sealed record TransferReport(Topology Topology, TransferAccounting Accounting) : INoSerializationVerificationNeeded;

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

    public TransferActor(Topology topology, TransferAccounting accounting)
    {
        _topology = topology;
        _accounting = accounting;
    }

    public static Props Props(Topology topology, TransferAccounting accounting) =>
        Akka.Actor.Props.Create(() => new TransferActor(topology, accounting));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case StageOutput o:
            {
                int next = o.FromStage + 1;
                var path = Path(o.Route.StageDeviceIds[o.FromStage], o.Route.StageDeviceIds[next]);
                o.Route.StageDevices[next].Tell(new RunStage(o.Work, next, o.Route, o.Hidden, path));
                break;
            }
            case TransferMeasured t:
                _accounting.Record(t.Path, t.Bytes, t.Seconds);
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
