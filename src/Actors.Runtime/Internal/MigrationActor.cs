using Akka.Actor;
using Actors.Runtime.Protocol;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Internal;

/// <summary>
/// Moves one sequence between replicas, started by the <see cref="MigrationCoordinator"/>: the target allocates blocks,
/// each source stage's device reads the sequence's KV blocks, the target writes them in a step of its
/// own (so they land in step order with everything else on its devices), the sampler moves with its
/// RNG state, and the request actor is pointed at the new scheduler. If the target refuses, the
/// source takes the sequence back to recompute it: nothing is lost either way.
/// </summary>
internal sealed class MigrationActor : UntypedActor
{
    private readonly MigrationPlan _plan;
    private readonly Topology _topology;
    private readonly byte[][]?[] _read;
    private readonly double[] _readSeconds;
    private int[]? _targetBlocks;
    private PipelineRoute? _targetRoute;
    private bool _samplerKnown;
    private SequenceSampling? _sampler;
    private int _stagesRead;
    private string? _refused;

    public MigrationActor(MigrationPlan plan, Topology topology)
    {
        _plan = plan;
        _topology = topology;
        _read = new byte[][]?[plan.Source.StageActors.Count];
        _readSeconds = new double[plan.Source.StageActors.Count];
    }

    public static Props Props(MigrationPlan plan, Topology topology) => Akka.Actor.Props.Create(() => new MigrationActor(plan, topology));

    private long Id => _plan.Sequence.Request.Id;

    protected override void PreStart()
    {
        _plan.Target.Scheduler.Tell(new ImportSequence(_plan.Sequence, Self));
        if (_plan.Setup is null) _plan.Source.StageActors[^1].Tell(new ExtractSampler(Id, Self));
        else _samplerKnown = true; // never scheduled: the sampler has not been created yet
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case ImportAllocated a:
                _targetBlocks = a.Blocks;
                _targetRoute = a.TargetRoute;
                if (a.TargetRoute.StageActors.Count != _plan.Source.StageActors.Count)
                {
                    _plan.Target.Scheduler.Tell(new CancelImport(Id));
                    _refused = $"replica {_plan.Target.Replica} has {a.TargetRoute.StageActors.Count} stages and replica {_plan.Source.Replica} has {_plan.Source.StageActors.Count}; KV can only move between replicas split alike";
                    break;
                }
                if (_plan.Sequence.Blocks.Length == 0) _stagesRead = _read.Length;
                else
                    for (int s = 0; s < _read.Length; s++)
                        _plan.Source.StageActors[s].Tell(new ReadKvBlocks(_plan.Source.Replica, s, _plan.Sequence.Blocks, Self, s));
                break;
            case ImportRefused r:
                _refused = r.Reason;
                break;
            case KvBlocksRead r:
                _read[r.Stage] = r.Data;
                _readSeconds[r.Stage] = r.Seconds;
                _stagesRead++;
                break;
            case SamplerExtracted x:
                _sampler = x.Sampler;
                _samplerKnown = true;
                break;
            case ImportDone:
                Finish();
                return;
            default:
                Unhandled(message);
                return;
        }
        Advance();
    }

    private void Advance()
    {
        if (!_samplerKnown) return;
        if (_refused != null)
        {
            GiveBack();
            return;
        }
        if (_targetBlocks is null || _stagesRead < _read.Length) return;
        var writes = new List<KvWrite>();
        for (int s = 0; s < _read.Length && _plan.Sequence.Blocks.Length > 0; s++)
        {
            var path = _topology.Choose(_plan.Source.StageDeviceIds[s], _targetRoute!.StageDeviceIds[s]);
            writes.Add(new KvWrite(s, _targetBlocks[.._plan.Sequence.Blocks.Length], _read[s]!, path, _readSeconds[s]));
        }
        _plan.Target.Scheduler.Tell(new ImportKvData(_plan.Sequence, writes, _sampler, _plan.Setup, _plan.RequestActor, Self));
        _targetBlocks = null; // sent; now wait for ImportDone
        _stagesRead = int.MinValue;
    }

    private void Finish()
    {
        long bytes = _read.Where(r => r != null).Sum(r => r!.Sum(b => (long)b.Length));
        _plan.SourceScheduler.Tell(new ExportDone(Id, _plan.Sequence.Blocks, _plan.Target.Scheduler));
        _plan.RequestActor.Tell(new SchedulerChanged(_plan.Target.Scheduler));
        _plan.Router.Tell(new Migrated(_plan.RequestId, _plan.Target.Replica));
        _plan.ReplyTo.Tell(new MigrationCompleted(_plan.RequestId, _plan.Source.Replica, _plan.Target.Replica, bytes, _plan.Sequence.Blocks.Length));
        Context.Stop(Self);
    }

    private void GiveBack()
    {
        _plan.SourceScheduler.Tell(new ReimportSequence(_plan.Sequence, _sampler, _plan.Setup, _plan.RequestActor));
        _plan.SourceScheduler.Tell(new ExportDone(Id, _plan.Sequence.Blocks, null));
        _plan.ReplyTo.Tell(new MigrationFailed(_plan.RequestId, _refused!));
        Context.Stop(Self);
    }
}
