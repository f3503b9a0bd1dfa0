using Akka.Actor;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>
/// The scheduler's part in moving sequences between replicas: exporting one (its blocks stay pinned
/// until the copy is done; the <see cref="MigrationCoordinator"/> runs the move), importing one (blocks
/// allocated here, its KV written by a maintenance step so it lands in step order), and taking one
/// back when the target refuses. The policy decides; this part only delivers.
/// </summary>
internal sealed partial class SchedulerActor
{
    private void Export(ExportSequence e)
    {
        if (!_policy.Contains(e.SequenceId) || !_streams.TryGetValue(e.SequenceId, out var stream))
        {
            e.ReplyTo.Tell(new MigrationFailed(e.RequestId, $"request '{e.RequestId}' is not running on replica {_replica} (finished, or not admitted yet)"));
            return;
        }
        if (!_policy.TryExport(e.SequenceId, out var exported))
        {
            _pendingExports.Add(e); // inside a step in flight (or swapped out): try again after the next step
            return;
        }
        _streams.Remove(e.SequenceId);
        (SamplingOptions, int[])? setup = _pendingSetup.Remove(e.SequenceId, out var s) ? s : null;
        _migratedTo[e.SequenceId] = e.Target.Scheduler;
        _route!.Migrations.Tell(new StartMigration(new MigrationPlan(exported, setup, stream.RequestActor, e.RequestId, _route, Self, e.Target, e.ReplyTo, e.Router)));
        PublishGauges();
    }

    private void RetryExports()
    {
        if (_pendingExports.Count == 0) return;
        var pending = _pendingExports.ToArray();
        _pendingExports.Clear();
        foreach (var e in pending) Export(e);
    }

    private void Import(ImportSequence i)
    {
        var seq = i.Sequence;
        if (seq.ComputedTokens == 0)
        {
            // Nothing to copy: it is admitted (to be recomputed) when its sampler arrives with ImportKvData.
            Sender.Tell(new ImportAllocated(seq.Request.Id, [], _route!));
            return;
        }
        var result = _policy.TryImport(seq.Request, seq.Tokens, seq.PromptLength, seq.ComputedTokens, out var blocks);
        if (result.IsAccepted) Sender.Tell(new ImportAllocated(seq.Request.Id, blocks, _route!));
        else Sender.Tell(new ImportRefused(seq.Request.Id, $"replica {_replica}: {result.Message}"));
        PublishGauges();
    }

    private void ImportData(ImportKvData d)
    {
        var seq = d.Sequence;
        long id = seq.Request.Id;
        if (seq.ComputedTokens == 0)
        {
            var result = _policy.TryImport(seq.Request, seq.Tokens, seq.PromptLength, 0, out _);
            if (!result.IsAccepted)
            {
                d.Migration.Tell(new ImportRefused(id, $"replica {_replica}: {result.Message}"));
                return;
            }
        }
        var work = RentMaintenance();
        work.KvWrites.AddRange(d.Writes);
        if (d.Sampler is not null) work.InstallSamplers.Add((id, d.Sampler));
        if (d.Setup is { } setup) _pendingSetup[id] = setup;
        _maintenance[work.StepId] = (StreamOf(seq.Request), d.Migration);
        work.ReadyAt = _clock.Now;
        _route!.StageActors[0].Tell(new RunStage(work, 0, _route, null));
    }

    private void TakeBack(ReimportSequence r)
    {
        long id = r.Sequence.Request.Id;
        _migratedTo.Remove(id);
        var result = _policy.TryImport(r.Sequence.Request, r.Sequence.Tokens, r.Sequence.PromptLength, 0, out _);
        var stream = StreamOf(r.Sequence.Request);
        if (!result.IsAccepted)
        {
            End(stream, FinishReason.Error, $"the migration failed and replica {_replica} could not take the request back: {result.Message}");
            return;
        }
        _streams[id] = stream;
        if (r.Setup is { } setup) _pendingSetup[id] = setup;
        if (r.Sampler is not null)
        {
            var work = RentMaintenance();
            work.InstallSamplers.Add((id, r.Sampler));
            _maintenance[work.StepId] = (stream, null);
            work.ReadyAt = _clock.Now;
            _route!.StageActors[0].Tell(new RunStage(work, 0, _route, null));
        }
        TrySchedule();
    }

    private static SequenceStream StreamOf(SequenceRequest request) => (SequenceStream)request.Output!;

    private StepWork RentMaintenance()
    {
        var work = _workPool.Count > 0 ? _workPool.Pop() : new StepWork { Replica = _replica };
        work.ResetMaintenance();
        work.MaintenanceOnly = true;
        work.StepId = --_maintenanceIds;
        work.Batch.TokenCount = work.Batch.SequenceCount = work.Batch.LogitCount = 0;
        work.EnsureCapacity(0, 0, _stages);
        work.ForgetSequences.AddRange(_forget);
        _forget.Clear();
        return work;
    }

    private void MaintenanceCompleted(StepWork work)
    {
        _clock.AdvanceTo(work.ReadyAt);
        if (_maintenance.Remove(work.StepId, out var m) && m.Migration is not null)
        {
            long id = m.Stream.SequenceId;
            _policy.CompleteImport(id);
            _streams[id] = m.Stream;
            m.Migration.Tell(new ImportDone(id));
            if (_deferredAborts.Remove(id))
            {
                if (_policy.Abort(id, AbortReason.Cancelled)) Forget(id);
                _streams.Remove(id);
                End(m.Stream, FinishReason.Cancelled, null);
            }
        }
        _workPool.Push(work);
        TrySchedule();
    }
}
