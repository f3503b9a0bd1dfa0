using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;

namespace Actors.Runtime.Internal;

/// <summary>Sets the pipeline route once the replica's actors exist.</summary>
internal sealed record UseRoute(PipelineRoute Route) : INoSerializationVerificationNeeded;

/// <summary>
/// One replica's scheduler. The decisions are the pure <see cref="SchedulerPolicy"/>'s; this actor
/// only delivers messages: admissions from request actors, steps to the first stage's device, results
/// back into the policy, tokens and finishes to the request actors. It keeps up to
/// MaxInFlightSteps steps moving (one per pipeline stage), each with disjoint sequences.
/// </summary>
internal sealed class SchedulerActor : UntypedActor
{
    private readonly SchedulerPolicy _policy;
    private readonly int _replica;
    private readonly int _stages;
    private readonly RuntimeMetrics _metrics;
    private readonly ReplicaGauges _gauges;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, IActorRef> _requests = new();
    private readonly Dictionary<long, (SamplingOptions Sampling, int[] Prompt)> _pendingSetup = new();
    private readonly Dictionary<long, int> _logitRowOf = new();
    private readonly List<long> _forget = new();
    private readonly Stack<StepWork> _workPool = new();
    private readonly Dictionary<long, (ScheduledStep Step, StepWork Work)> _inFlight = new();
    private PipelineRoute? _route;
    private int[] _sampled = [];
    private readonly List<ExportSequence> _pendingExports = new();
    private readonly Dictionary<long, IActorRef> _migratedTo = new();
    private readonly HashSet<long> _deferredAborts = new();
    private readonly Dictionary<long, (long SequenceId, IActorRef RequestActor, IActorRef? Migration)> _maintenance = new();
    private long _maintenanceIds;

    private readonly bool _virtual;
    private double _now;
    private readonly PriorityQueue<(EnqueueSequence Request, IActorRef Sender), double> _future = new();

    private readonly RequestsInTransit _inTransit;

    public SchedulerActor(int replica, SchedulerPolicy policy, int stages, RuntimeMetrics metrics, bool virtualClock = false, RequestsInTransit? inTransit = null)
    {
        _inTransit = inTransit ?? new RequestsInTransit();
        _virtual = virtualClock;
        _replica = replica;
        _policy = policy;
        _stages = stages;
        _metrics = metrics;
        _gauges = metrics.Replica(replica);
        PublishGauges();
    }

    public static Props Props(int replica, SchedulerPolicy policy, int stages, RuntimeMetrics metrics, bool virtualClock = false, RequestsInTransit? inTransit = null) =>
        Akka.Actor.Props.Create(() => new SchedulerActor(replica, policy, stages, metrics, virtualClock, inTransit));

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case EnqueueSequence e:
                e.InTransit?.Arrived();
                if (_virtual && e.ArrivalAt > _now) _future.Enqueue((e, Sender), e.ArrivalAt); // not arrived yet on the virtual clock
                else Enqueue(e, Sender, _virtual && !double.IsNaN(e.ArrivalAt) ? e.ArrivalAt : _now);
                TrySchedule();
                break;
            case StepCompleted c:
                Completed(c.Work);
                break;
            case StepFailed f:
                Failed(f);
                break;
            case AbortSequence a:
                if (_migratedTo.TryGetValue(a.SequenceId, out var moved)) moved.Forward(a);
                else if (_policy.IsImporting(a.SequenceId)) _deferredAborts.Add(a.SequenceId);
                else
                {
                    if (_policy.Abort(a.SequenceId, a.Reason)) Forget(a.SequenceId);
                    _requests.Remove(a.SequenceId);
                    TrySchedule();
                }
                break;
            case PauseSequence p:
                if (_migratedTo.TryGetValue(p.SequenceId, out var movedTo)) movedTo.Forward(p);
                else
                {
                    _policy.SetPaused(p.SequenceId, p.Paused);
                    if (!p.Paused) TrySchedule();
                }
                break;
            case ExportSequence e:
                Export(e);
                break;
            case ImportSequence i:
                Import(i);
                break;
            case ImportKvData d:
                ImportData(d);
                break;
            case CancelImport c:
                if (_policy.Abort(c.SequenceId, AbortReason.Cancelled)) Forget(c.SequenceId);
                TrySchedule();
                break;
            case ExportDone x:
                _policy.ReleaseExported(x.Blocks);
                if (x.NewScheduler is null) _migratedTo.Remove(x.SequenceId);
                TrySchedule();
                break;
            case ReimportSequence r:
                TakeBack(r);
                break;
            case UseRoute r:
                _route = r.Route;
                TrySchedule();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Enqueue(EnqueueSequence e, IActorRef sender, double arrivalAt)
    {
        var result = _policy.TryAdd(e.Request);
        if (!result.IsAccepted)
        {
            sender.Tell(new SequenceRejected(e.Request.Id, result.Status, result.Message ?? result.Status.ToString()));
            return;
        }
        _requests[e.Request.Id] = sender;
        _pendingSetup[e.Request.Id] = (e.Sampling, e.PromptTokens);
        _metrics.PromptAdmitted(e.PromptTokens.Length);
        sender.Tell(new SequenceAdmitted(e.Request.Id, arrivalAt));
    }

    /// <summary>Virtual clock: admits the requests whose arrival time the clock has reached.</summary>
    private void AdmitArrived()
    {
        while (_future.TryPeek(out var next, out double at) && at <= _now)
        {
            _future.Dequeue();
            Enqueue(next.Request, next.Sender, at);
        }
    }

    private void TrySchedule()
    {
        if (_route is null) return;
        if (_virtual)
        {
            // A request on its way may arrive earlier on the virtual clock than anything scheduled next:
            // wait for it rather than run ahead (its EnqueueSequence triggers scheduling again).
            if (_inTransit.Count > 0) return;
            AdmitArrived();
            // Idle until the next arrival: jump the clock there rather than wait.
            if (_inFlight.Count == 0 && !_policy.HasSchedulableWork && _future.TryPeek(out _, out double next))
            {
                _now = Math.Max(_now, next);
                AdmitArrived();
            }
        }
        while (_policy.CanSchedule && _policy.HasSchedulableWork)
        {
            var step = _policy.Schedule();
            if (step.Preempted.Length > 0) _metrics.Preempted(step.Preempted.Length, _replica);
            if (step.IsEmpty)
            {
                // Nothing for the devices: apply at once and wait for the next event rather than spin.
                _policy.Update(step, ReadOnlySpan<int>.Empty);
                break;
            }
            Dispatch(step);
        }
        PublishGauges();
    }

    private void Dispatch(ScheduledStep step)
    {
        var work = _workPool.Count > 0 ? _workPool.Pop() : new StepWork { Replica = _replica };
        work.ResetMaintenance();
        work.StepId = step.StepId;
        StepBatchFiller.Fill(step, work.Batch);
        var sequences = step.Sequences;
        work.EnsureCapacity(sequences.Length, step.LogitCount, _stages);
        int logit = 0;
        for (int s = 0; s < sequences.Length; s++)
        {
            ref readonly var seq = ref sequences[s];
            work.SequenceIds[s] = seq.Id;
            if (seq.NeedsLogits) work.LogitSequence[logit++] = s;
            if (_pendingSetup.Remove(seq.Id, out var setup))
            {
                // The very first step of a sequence carries its sampling setup to the last stage.
                work.NewSequences.Add(new SequenceSetup(seq.Id, setup.Sampling, setup.Prompt));
                if (_requests.TryGetValue(seq.Id, out var requester)) requester.Tell(new SequenceStarted(seq.Id, seq.StartPosition, _now));
            }
        }
        foreach (var c in step.SwapOut) work.SwapOut.Add((c.Source, c.Destination));
        foreach (var c in step.SwapIn) work.SwapIn.Add((c.Destination, c.Source));
        foreach (var c in step.BlockCopies) work.BlockCopies.Add((c.Source, c.Destination));
        work.ForgetSequences.AddRange(_forget);
        _forget.Clear();
        work.DispatchedAt = Stopwatch.GetTimestamp();
        work.VirtualDispatched = _now;
        _inFlight[step.StepId] = (step, work);
        _route!.StageActors[0].Tell(new RunStage(work, 0, _route, null, ReadyAt: _now));
    }

    private void Completed(StepWork work)
    {
        if (work.MaintenanceOnly)
        {
            MaintenanceCompleted(work);
            return;
        }
        if (!_inFlight.Remove(work.StepId, out var entry)) return;
        var step = entry.Step;
        if (_virtual) _now = Math.Max(_now, work.VirtualCompleted);
        int n = work.Batch.LogitCount;
        if (_sampled.Length < n) _sampled = new int[Math.Max(n, 2 * _sampled.Length)];
        work.Sampled.AsSpan(0, n).CopyTo(_sampled);
        _logitRowOf.Clear();
        for (int i = 0; i < n; i++) _logitRowOf[work.SequenceIds[work.LogitSequence[i]]] = i;

        var result = _policy.Update(step, _sampled.AsSpan(0, n));
        foreach (var t in result.Appended)
        {
            if (_requests.TryGetValue(t.Id, out var requester))
                requester.Tell(new SequenceToken(t.Id, t.Token, work.SampledLogProbs[_logitRowOf[t.Id]], _now));
        }
        _metrics.TokensGenerated(result.Appended.Length);
        foreach (var f in result.Finished)
        {
            if (_requests.Remove(f.Id, out var requester)) requester.Tell(new SequenceFinished(f.Id, f.Reason, null));
            Forget(f.Id);
        }
        work.CompletedAt = Stopwatch.GetTimestamp();
        double stepMs = _virtual ? (work.VirtualCompleted - work.VirtualDispatched) * 1000 : Stopwatch.GetElapsedTime(work.DispatchedAt, work.CompletedAt).TotalMilliseconds;
        _metrics.Step(stepMs, work.Batch.TokenCount, _replica);
        _policy.RecomputeSecondsPerToken = PreemptionCost.ObservePrefillRate(_policy.RecomputeSecondsPerToken, stepMs / 1000, work.Batch.TokenCount, step.Sequences.Length);
        _workPool.Push(work);
        RetryExports();
        TrySchedule();
    }

    /// <summary>A device failed the step: its sequences end with an error; everyone else carries on.</summary>
    private void Failed(StepFailed f)
    {
        if (f.Work.MaintenanceOnly)
        {
            if (_maintenance.Remove(f.Work.StepId, out var m) && m.Migration is not null)
            {
                _policy.Abort(m.SequenceId, AbortReason.Error);
                Forget(m.SequenceId);
                m.Migration.Tell(new ImportRefused(m.SequenceId, $"writing the KV on {f.DeviceId} failed: {f.Error.Message}"));
            }
            _workPool.Push(f.Work);
            return;
        }
        if (!_inFlight.Remove(f.Work.StepId, out var entry)) return;
        var step = entry.Step;
        string error = $"device {f.DeviceId} failed at stage {f.Stage}: {f.Error.Message}";
        _log.Warning("replica {0}: step {1} failed ({2}); ending its {3} sequences", _replica, step.StepId, error, step.Sequences.Length);
        foreach (var seq in step.Sequences)
        {
            _policy.Abort(seq.Id, AbortReason.Error);
            Forget(seq.Id);
            if (_requests.Remove(seq.Id, out var requester)) requester.Tell(new SequenceFinished(seq.Id, Scheduling.FinishReason.Error, error));
        }
        Span<int> none = stackalloc int[0];
        if (step.LogitCount > 0) none = new int[step.LogitCount];
        _policy.Update(step, none);
        _workPool.Push(f.Work);
        TrySchedule();
    }

    // ---------------------------------------------------------------- migration between replicas

    private void Export(ExportSequence e)
    {
        if (!_policy.Contains(e.SequenceId) || !_requests.TryGetValue(e.SequenceId, out var requestActor))
        {
            e.ReplyTo.Tell(new MigrationFailed(e.RequestId, $"request '{e.RequestId}' is not running on replica {_replica} (finished, or not admitted yet)"));
            return;
        }
        if (!_policy.TryExport(e.SequenceId, out var exported))
        {
            _pendingExports.Add(e); // inside a step in flight (or swapped out): try again after the next step
            return;
        }
        _requests.Remove(e.SequenceId);
        (SamplingOptions, int[])? setup = _pendingSetup.Remove(e.SequenceId, out var s) ? s : null;
        _migratedTo[e.SequenceId] = e.Target.Scheduler;
        _route!.Transfer.Tell(new StartMigration(new MigrationPlan(exported, setup, requestActor, e.RequestId, _route, Self, e.Target, e.ReplyTo, e.Router)));
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
        _maintenance[work.StepId] = (id, d.RequestActor, d.Migration);
        _route!.StageActors[0].Tell(new RunStage(work, 0, _route, null, ReadyAt: _now));
    }

    private void TakeBack(ReimportSequence r)
    {
        long id = r.Sequence.Request.Id;
        _migratedTo.Remove(id);
        var result = _policy.TryImport(r.Sequence.Request, r.Sequence.Tokens, r.Sequence.PromptLength, 0, out _);
        if (!result.IsAccepted)
        {
            r.RequestActor.Tell(new SequenceFinished(id, Scheduling.FinishReason.Error, $"the migration failed and replica {_replica} could not take the request back: {result.Message}"));
            return;
        }
        _requests[id] = r.RequestActor;
        if (r.Setup is { } setup) _pendingSetup[id] = setup;
        if (r.Sampler is not null)
        {
            var work = RentMaintenance();
            work.InstallSamplers.Add((id, r.Sampler));
            _maintenance[work.StepId] = (id, r.RequestActor, null);
            _route!.StageActors[0].Tell(new RunStage(work, 0, _route, null));
        }
        TrySchedule();
    }

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
        if (_virtual) _now = Math.Max(_now, work.VirtualCompleted);
        if (_maintenance.Remove(work.StepId, out var m) && m.Migration is not null)
        {
            _policy.CompleteImport(m.SequenceId);
            _requests[m.SequenceId] = m.RequestActor;
            m.Migration.Tell(new ImportDone(m.SequenceId));
            if (_deferredAborts.Remove(m.SequenceId))
            {
                if (_policy.Abort(m.SequenceId, AbortReason.Cancelled)) Forget(m.SequenceId);
                _requests.Remove(m.SequenceId);
            }
        }
        _workPool.Push(work);
        TrySchedule();
    }

    private void Forget(long id)
    {
        _pendingSetup.Remove(id);
        _forget.Add(id);
    }

    private void PublishGauges()
    {
        _gauges.Waiting = _policy.WaitingCount + _policy.SwappedCount;
        _gauges.Running = _policy.RunningCount;
        var pool = _policy.BlockPool;
        _gauges.BlocksUsed = pool.UsedCount;
        _gauges.BlocksFree = pool.FreeCount;
        _gauges.BlocksCachedFree = pool.CachedFreeCount;
        Interlocked.Exchange(ref _gauges.PrefixQueries, pool.Queries);
        Interlocked.Exchange(ref _gauges.PrefixHits, pool.Hits);
    }
}
