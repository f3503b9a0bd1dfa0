using Akka.Actor;
using Akka.Event;
using Actors.Runtime.Observability;
using Actors.Runtime.Protocol;
using Actors.Runtime.Scheduling;
using Actors.Runtime.Timing;

namespace Actors.Runtime.Internal;

/// <summary>
/// One replica's scheduler. The decisions are the pure <see cref="SchedulerPolicy"/>'s; this actor
/// only delivers messages: admissions from request actors, steps to the first stage's device, results
/// back into the policy, tokens and finishes to the request actors. It keeps up to
/// MaxInFlightSteps steps moving (one per pipeline stage), each with disjoint sequences.
/// What failures do to the requests it holds is in SchedulerActor.Faults.cs.
/// </summary>
internal sealed partial class SchedulerActor : UntypedActor, IWithTimers
{
    private readonly SchedulerPolicy _policy;
    private readonly int _replica;
    private readonly int _stages;
    private readonly RuntimeMetrics _metrics;
    private readonly ReplicaGauges _gauges;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<long, SequenceStream> _streams = new();
    private readonly Dictionary<long, (SamplingOptions Sampling, int[] Prompt)> _pendingSetup = new();
    private readonly Dictionary<long, int> _logitRowOf = new();
    private readonly IRuntimeClock _clock;
    private readonly List<long> _forget = new();
    private readonly Stack<StepWork> _workPool = new();
    private readonly Dictionary<long, (ScheduledStep Step, StepWork Work)> _inFlight = new();
    private PipelineRoute? _route;
    private int[] _sampled = [];
    private readonly List<ExportSequence> _pendingExports = new();
    private readonly Dictionary<long, IActorRef> _migratedTo = new();
    private readonly HashSet<long> _deferredAborts = new();
    private readonly Dictionary<long, (SequenceStream Stream, IActorRef? Migration)> _maintenance = new();
    private long _maintenanceIds;

    /// <summary>Requests that arrive later on the clock (a simulated workload's arrival times); empty on a real clock.</summary>
    private readonly PriorityQueue<(EnqueueSequence Request, IActorRef Sender), double> _future = new();
    private readonly HashSet<long> _futureAborted = new();

    private readonly RequestsInTransit _inTransit;

    public SchedulerActor(int replica, SchedulerPolicy policy, int stages, RuntimeMetrics metrics, IRuntimeClock clock, RequestsInTransit? inTransit = null,
        ReplicaHealth? health = null, TimeSpan stepTimeout = default, FaultInjector? faults = null)
    {
        _health = health ?? new ReplicaHealth(replica);
        _stepTimeout = stepTimeout;
        _faults = faults;
        _inTransit = inTransit ?? new RequestsInTransit();
        _clock = clock;
        _replica = replica;
        _policy = policy;
        _stages = stages;
        _metrics = metrics;
        _gauges = metrics.Replica(replica);
        PublishGauges();
    }

    public static Props Props(int replica, SchedulerPolicy policy, int stages, RuntimeMetrics metrics, IRuntimeClock clock, RequestsInTransit? inTransit = null,
        ReplicaHealth? health = null, TimeSpan stepTimeout = default, FaultInjector? faults = null) =>
        Akka.Actor.Props.Create(() => new SchedulerActor(replica, policy, stages, metrics, clock, inTransit, health, stepTimeout, faults));

    protected override void OnReceive(object message)
    {
        if (_failure is not null)
        {
            OnReceiveFailed(message);
            return;
        }
        switch (message)
        {
            case EnqueueSequence e:
                e.InTransit?.Arrived();
                if (double.IsNaN(e.Stream.ArrivalAt)) e.Stream.ArrivalAt = _clock.Now;
                if (e.Stream.ArrivalAt > _clock.Now) _future.Enqueue((e, Sender), e.Stream.ArrivalAt); // not arrived yet on the (virtual) clock
                else Enqueue(e, Sender);
                TrySchedule();
                break;
            case StepCompleted c:
                Completed(c.Work);
                break;
            case StepFailed f:
                Failed(f);
                break;
            case LeaveChoiceGroup leave:
                LeaveGroup(leave);
                TrySchedule();
                break;
            case AbortSequence a when AbortAssembling(a.SequenceId, (FinishReason)a.Reason):
                TrySchedule();
                break;
            case AbortSequence a:
                if (_migratedTo.TryGetValue(a.SequenceId, out var moved)) moved.Forward(a);
                else if (_policy.IsImporting(a.SequenceId)) _deferredAborts.Add(a.SequenceId);
                else
                {
                    if (_policy.Abort(a.SequenceId, a.Reason)) Forget(a.SequenceId);
                    else if (_future.Count > 0) _futureAborted.Add(a.SequenceId);
                    if (_streams.Remove(a.SequenceId, out var aborted)) End(aborted, (FinishReason)a.Reason, null);
                    TrySchedule();
                }
                break;
            case ChunksDrained d:
                if (_migratedTo.TryGetValue(d.SequenceId, out var movedTo)) movedTo.Forward(d);
                else if (_streams.TryGetValue(d.SequenceId, out var drained) && drained.Drained(d.Count))
                {
                    _policy.SetPaused(d.SequenceId, false);
                    TrySchedule();
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
                foreach (var stage in r.Route.StageActors) Context.Watch(stage);
                TrySchedule();
                break;
            case WatchdogTick:
                CheckOverdueSteps();
                break;
            case AdmissionExpired x:
                ExpireAdmission(x.SequenceId);
                break;
            case Terminated when CoordinatedShutdown.Get(Context.System).ShutdownReason is not null:
                break; // the system is shutting down and its stages stop with it: no failure to report
            case Terminated t:
                FailReplica($"replica {_replica}: stage {IndexOfStage(t.ActorRef)} stopped after a failure (its device actor's log names it)");
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Enqueue(EnqueueSequence e, IActorRef sender)
    {
        var stream = e.Stream;
        if (_futureAborted.Remove(e.Request.Id))
        {
            End(stream, FinishReason.Cancelled, null);
            return;
        }
        if (JoinGroup(e, sender)) return;
        var result = _policy.TryAdd(e.Request);
        if (!result.IsAccepted)
        {
            sender.Tell(new SequenceRejected(e.Request.Id, result.Status, result.Message ?? result.Status.ToString()));
            return;
        }
        _streams[e.Request.Id] = stream;
        _pendingSetup[e.Request.Id] = (e.Sampling, e.PromptTokens);
        _metrics.PromptAdmitted(e.PromptTokens.Length);
        sender.Tell(new SequenceAdmitted(e.Request.Id));
    }

    /// <summary>Admits the requests whose arrival time the clock has reached (a simulated workload).</summary>
    private void AdmitArrived()
    {
        while (_future.TryPeek(out var next, out double at) && at <= _clock.Now)
        {
            _future.Dequeue();
            Enqueue(next.Request, next.Sender);
        }
    }

    /// <summary>The one way a sequence ends for its request: the held-back text, then the final message, through the request actor.</summary>
    private void End(SequenceStream stream, FinishReason reason, string? error)
    {
        var completed = stream.Finish(reason, error, _clock.Now, out var tail);
        if (tail is not null && !stream.Write(tail)) stream.RequestActor.Tell(new ChunkBacklogged(tail));
        stream.RequestActor.Tell(new SequenceFinished(stream.SequenceId, completed));
    }

    private void TrySchedule()
    {
        if (_route is null || _overdue.Count > 0) return; // a hung device: nothing more queues behind it
        if (_clock.IsVirtual)
        {
            // A request on its way may arrive earlier on the virtual clock than anything scheduled next:
            // wait for it rather than run ahead (its EnqueueSequence triggers scheduling again).
            if (_inTransit.Count > 0) return;
            AdmitArrived();
            // Idle until the next arrival: jump the clock there rather than wait.
            if (_inFlight.Count == 0 && !_policy.HasSchedulableWork && _future.TryPeek(out _, out double next))
            {
                _clock.AdvanceTo(next);
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
                work.NewSequences.Add(Setup(seq.Id, setup.Sampling, setup.Prompt));
                if (_streams.TryGetValue(seq.Id, out var stream)) stream.Started(seq.StartPosition, _clock.Now, _metrics);
            }
        }
        foreach (var c in step.SwapOut) work.SwapOut.Add((c.Source, c.Destination));
        foreach (var c in step.SwapIn) work.SwapIn.Add((c.Destination, c.Source));
        foreach (var c in step.BlockCopies) work.BlockCopies.Add((c.Source, c.Destination));
        foreach (var c in step.SlidingBlockCopies) work.SlidingBlockCopies.Add((c.Source, c.Destination));
        work.ForgetSequences.AddRange(_forget);
        _forget.Clear();
        work.DispatchedAt = work.ReadyAt = _clock.Now;
        work.DispatchedTicks = System.Diagnostics.Stopwatch.GetTimestamp();
        _inFlight[step.StepId] = (step, work);
        _route!.StageActors[0].Tell(new RunStage(work, 0, _route, null));
    }

    private void Completed(StepWork work)
    {
        if (work.MaintenanceOnly)
        {
            MaintenanceCompleted(work);
            return;
        }
        if (OverdueAnswered(work)) return;
        if (!_inFlight.Remove(work.StepId, out var entry)) return;
        var step = entry.Step;
        _clock.AdvanceTo(work.ReadyAt); // a simulated step ends when the cost model says
        double now = _clock.Now;
        int n = work.Batch.LogitCount;
        if (_sampled.Length < n) _sampled = new int[Math.Max(n, 2 * _sampled.Length)];
        work.Sampled.AsSpan(0, n).CopyTo(_sampled);
        if (work.FailedRows > 0) EndInvalidRows(work);
        _logitRowOf.Clear();
        for (int i = 0; i < n; i++) _logitRowOf[work.SequenceIds[work.LogitSequence[i]]] = i;

        // The policy decides every stop (and appends each token's text to its stream while deciding);
        // this loop only delivers: straight into each request's sink, one step's tokens at a time.
        if (work.Embeddings.Count > 0) TakeEmbeddings(work);
        var result = _policy.Update(step, _sampled.AsSpan(0, n));
        foreach (var t in result.Appended)
        {
            if (!_streams.TryGetValue(t.Id, out var stream)) continue;
            int row = _logitRowOf[t.Id];
            const int top = Inference.Sampling.SamplingParameters.MaxTopLogProbs;
            if (!stream.Deliver(t.Token, work.SampledLogProbs[row], work.TopTokens.AsSpan(row * top, work.TopCounts[row]),
                    work.TopLogProbs.AsSpan(row * top, work.TopCounts[row]), now, _metrics, out var chunk))
            {
                _policy.SetPaused(t.Id, true); // a slow consumer: keep the blocks, stop computing until it drains
                stream.RequestActor.Tell(new ChunkBacklogged(chunk));
            }
        }
        _metrics.TokensGenerated(result.Appended.Length);
        foreach (var f in result.Finished)
        {
            if (_streams.Remove(f.Id, out var stream)) End(stream, f.Reason, null);
            Forget(f.Id);
        }
        double stepMs = (now - work.DispatchedAt) * 1000;
        _metrics.Step(stepMs, work.Batch.TokenCount, _replica);
        _policy.RecomputeSecondsPerToken = PreemptionCost.ObservePrefillRate(_policy.RecomputeSecondsPerToken, stepMs / 1000, work.Batch.TokenCount, step.Sequences.Length);
        _workPool.Push(work);
        RetryExports();
        if (_faults?.NextSchedulerKill() == true)
            throw new InjectedFaultException($"injected fault: the scheduler of replica {_replica} crashed");
        TrySchedule();
    }

    /// <summary>A device failed the step: its sequences end with an error; everyone else carries on.</summary>
    private void Failed(StepFailed f)
    {
        if (f.Work.MaintenanceOnly)
        {
            if (_maintenance.Remove(f.Work.StepId, out var m) && m.Migration is not null)
            {
                _policy.Abort(m.Stream.SequenceId, AbortReason.Error);
                Forget(m.Stream.SequenceId);
                m.Migration.Tell(new ImportRefused(m.Stream.SequenceId, $"writing the KV on {f.DeviceId} failed: {f.Error.Message}"));
            }
            _workPool.Push(f.Work);
            return;
        }
        if (OverdueAnswered(f.Work)) return;
        if (!_inFlight.Remove(f.Work.StepId, out var entry)) return;
        var step = entry.Step;
        string error = $"device {f.DeviceId} failed at stage {f.Stage}: {f.Error.Message}";
        _log.Warning("replica {0}: step {1} failed ({2}); ending its {3} sequences", _replica, step.StepId, error, step.Sequences.Length);
        string? sticky = Inference.Compute.DeviceFaults.IsSticky(f.Error)
            ? $"replica {_replica}: device {f.DeviceId} had a sticky fault ({f.Error.Message}); out of service"
            : null;
        // Out of rotation before any of the step's requests hears of the fault, so a client that reads its
        // error and asks again is not routed back here.
        if (sticky is not null) _health.Fail(sticky);
        FailStep(step, error);
        _workPool.Push(f.Work);
        if (sticky is not null)
        {
            FailReplica(sticky);
            return;
        }
        TrySchedule();
    }

    /// <summary>Ends every sequence of a failed step with <paramref name="error"/> and applies the step as producing nothing.</summary>
    private void FailStep(ScheduledStep step, string error)
    {
        foreach (var seq in step.Sequences)
        {
            _policy.Abort(seq.Id, AbortReason.Error);
            Forget(seq.Id);
            if (_streams.Remove(seq.Id, out var stream)) End(stream, FinishReason.Error, error);
        }
        Span<int> none = stackalloc int[0];
        if (step.LogitCount > 0) none = new int[step.LogitCount];
        _policy.Update(step, none);
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
        if (pool.UsedCount > _gauges.BlocksPeak) _gauges.BlocksPeak = pool.UsedCount;
        _gauges.BlocksFree = pool.FreeCount;
        _gauges.BlocksCachedFree = pool.CachedFreeCount;
        if (_policy.SlidingBlockPool is { } sliding)
        {
            _gauges.SlidingBlocksUsed = sliding.UsedCount;
            _gauges.SlidingBlocksFree = sliding.FreeCount;
        }
        Interlocked.Exchange(ref _gauges.PrefixQueries, pool.Queries);
        Interlocked.Exchange(ref _gauges.PrefixHits, pool.Hits);
    }
}
