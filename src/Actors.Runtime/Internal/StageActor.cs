using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Actors.Inference.Compute;
using Actors.Inference.Sampling;

namespace Actors.Runtime.Internal;

/// <summary>Busy time shared by a device actor and its stage actors (they all run on the device's one thread).</summary>
internal sealed class DeviceBusy
{
    public double Seconds;
    /// <summary>Of <see cref="Seconds"/>, the time inside the stage's forward pass alone (no sampling, no KV maintenance, no copies).</summary>
    public double ForwardSeconds;
    public long Steps;
}

/// <summary>
/// One pipeline stage of one replica: owns its layers (the stage executor: weights and its slice of
/// the paged KV cache on the device) and runs on its device's thread, so stages sharing a device
/// never run at once and a CUDA context stays on its thread. Each message is one bounded unit of
/// work — this stage of one step — so KV copies and loads interleave with compute. The first stage
/// embeds tokens; the last samples; the others hand their hidden states to the transfer actor.
/// </summary>
internal sealed class StageActor : UntypedActor
{
    private readonly IStageExecutor _stage;
    private readonly int _replica, _index;
    private readonly string _deviceId;
    private readonly DeviceBusy _busy;
    private readonly Timing.DeviceTimeline _timeline;
    private readonly byte[]?[] _swap;
    private readonly Dictionary<long, SequenceSampling> _samplers = new();
    private readonly EmbeddingPools _pools = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private float[] _logits = [];
    /// <summary>Whether steps whose every row is decided by its top-k ask the stage for that instead of the logits (actors-runtime.top-k-sampling).</summary>
    private readonly bool _topKSampling;
    private readonly int _maxTopK;
    private int[] _rowTopK = [], _topIndices = [];
    private float[] _topValues = [];
    private IActorRef? _transfer;
    private readonly FaultInjector? _faults;

    public StageActor(IStageExecutor stage, int replica, int index, string deviceId, int swapSlots, DeviceBusy busy, Timing.DeviceTimeline timeline,
        FaultInjector? faults = null, bool topKSampling = true)
    {
        _topKSampling = topKSampling;
        _maxTopK = stage.MaxLogitTopK;
        _faults = faults;
        _stage = stage;
        _replica = replica;
        _index = index;
        _deviceId = deviceId;
        _swap = new byte[]?[swapSlots];
        _busy = busy;
        _timeline = timeline;
    }

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case RunStage run:
                Run(run);
                break;
            case ReadKvBlocks read:
                ReadBlocks(read);
                break;
            case WriteKvBlocks write:
                WriteBlocks(write);
                break;
            case ExtractSampler x:
                _samplers.Remove(x.SequenceId, out var extracted);
                x.ReplyTo.Tell(new SamplerExtracted(x.SequenceId, extracted));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Run(RunStage m)
    {
        var work = m.Work;
        _transfer ??= m.Route.Transfer;
        var input = m.IncomingPath is { } path ? ReceiveHidden(m, path) : m.Input;
        long started = Stopwatch.GetTimestamp();
        HiddenBuffer? output = null;
        var fault = _faults is not null && work.Batch.TokenCount > 0 ? _faults.NextStepFault(_stage.IsLast) : InjectedFault.None;
        // A crash of the actor itself (outside the step's own error handling): the device actor stops this
        // stage, and its replica's scheduler, which watches it, fails the replica.
        if (fault == InjectedFault.KillStage) throw new InjectedFaultException($"injected fault: stage actor {_index} of replica {_replica} on {_deviceId} crashed");
        try
        {
            InjectBeforeForward(fault);
            ApplyMaintenance(work);
            if (work.Batch.TokenCount == 0)
            {
                // A step of KV maintenance only: nothing to compute, pass it on so every stage applies its share.
                input?.Return();
                if (_stage.IsLast) AdoptSamplers(work);
                else output = HiddenBuffer.Rent(0);
            }
            else if (_stage.IsLast)
            {
                AdoptSamplers(work); // before the forward pass: the samplers say whether the rows' top-k is enough
                int k = StepTopK(work);
                var hidden = input is null ? ReadOnlySpan<float>.Empty : input.Span;
                long f = Stopwatch.GetTimestamp();
                if (k > 0)
                {
                    int n = work.Batch.LogitCount * k;
                    if (_topIndices.Length < n) (_topIndices, _topValues) = (new int[n], new float[n]);
                    _stage.ForwardTopK(work.Batch, hidden, k, _topIndices.AsSpan(0, n), _topValues.AsSpan(0, n));
                }
                else
                {
                    int n = work.Batch.LogitCount * _stage.VocabSize;
                    if (_logits.Length < n) _logits = new float[n];
                    _stage.Forward(work.Batch, hidden, _logits.AsSpan(0, n));
                }
                _busy.ForwardSeconds += Stopwatch.GetElapsedTime(f).TotalSeconds;
                input?.Return();
                if (fault == InjectedFault.NanLogits)
                {
                    int row = _faults!.NextIndex(work.Batch.LogitCount);
                    if (k > 0) _topValues.AsSpan(row * k, k).Fill(float.NaN);
                    else _logits.AsSpan(row * _stage.VocabSize, _stage.VocabSize).Fill(float.NaN);
                }
                if (_pools.Count > 0) _pools.Pool(_stage, work);
                if (k > 0) SampleFromTopK(work, k);
                else Sample(work);
            }
            else
            {
                output = HiddenBuffer.Rent(work.Batch.TokenCount * _stage.HiddenSize);
                long f = Stopwatch.GetTimestamp();
                _stage.Forward(work.Batch, input is null ? ReadOnlySpan<float>.Empty : input.Span, output.Span);
                _busy.ForwardSeconds += Stopwatch.GetElapsedTime(f).TotalSeconds;
                input?.Return();
            }
        }
        catch (Exception ex)
        {
            output?.Return();
            _log.Error(ex, "{0}: replica {1} stage {2} failed on step {3}", _deviceId, _replica, _index, work.StepId);
            m.Route.Scheduler.Tell(new StepFailed(work, _index, _deviceId, ex));
            // The device cannot be trusted again: its actor takes it out of service with every stage on it.
            if (DeviceFaults.IsSticky(ex)) Context.Parent.Tell(new DeviceFaulted(_deviceId, ex.Message));
            return;
        }
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        if (_stage is Remote.IRemoteStage remote && work.Batch.TokenCount > 0) m.Route.Transfer.Tell(new RemoteStageMeasured(m.Route, _index, remote.LastExchange));
        seconds = _timeline.Book(_stage, work.Batch.TokenCount > 0, seconds, ref work.ReadyAt);
        work.StageSeconds[_index] = seconds;
        _busy.Seconds += seconds;
        _busy.Steps++;
        if (output is null) m.Route.Scheduler.Tell(new StepCompleted(work));
        else m.Route.Transfer.Tell(new StageOutput(work, _index, m.Route, output));
    }

    /// <summary>Faults of actors-runtime.fault-injection that strike before the forward pass (on this device's own thread, like a real one).</summary>
    private void InjectBeforeForward(InjectedFault fault)
    {
        switch (fault)
        {
            case InjectedFault.StepError:
                throw new InjectedFaultException($"injected fault: device step failed on {_deviceId}");
            case InjectedFault.StickyFault:
                throw new StickyDeviceFaultException($"injected fault: sticky device fault on {_deviceId} (like a lost CUDA context)");
            case InjectedFault.Hang:
                Thread.Sleep(_faults!.HangTime); // the device's own thread, as a hung kernel would hold it
                break;
        }
    }

    /// <summary>
    /// Copies incoming hidden states into this device's own buffer over the path the transfer actor
    /// chose (a host-memory copy between CPU devices), and reports bytes and time for accounting.
    /// </summary>
    private HiddenBuffer ReceiveHidden(RunStage m, Transfer.TransferPath path)
    {
        var source = m.Input ?? throw new InvalidOperationException("a transfer without hidden states");
        // Same device: nothing moves. Across nodes: the bytes cross on a remote stage's data connection (into
        // its node, or back into this process's buffer), where the remote stage's exchange books them.
        if (path.Kind == Transfer.PathKind.SameDevice || m.Engine is Remote.DataConnectionDelivery) return source;
        long started = Stopwatch.GetTimestamp();
        var local = HiddenBuffer.Rent(source.Length);
        (m.Engine ?? Transfer.HostCopyEngine.Instance).Copy(source.Span, local.Span);
        source.Return();
        if (_timeline.ReportsMeasuredCopies) m.Route.Transfer.Tell(new TransferMeasured(path, 4L * local.Length, Stopwatch.GetElapsedTime(started).TotalSeconds));
        return local;
    }

    /// <summary>
    /// KV maintenance the scheduler attached to the step, before the forward pass, in the policy's
    /// order: swap-outs, swap-ins, copy-on-write copies, then KV moved in from another replica.
    /// </summary>
    private void ApplyMaintenance(StepWork work)
    {
        if (work.SwapOut.Count > 0 || work.SwapIn.Count > 0) Swap(work);
        foreach (var (src, dst) in work.BlockCopies) _stage.CopyKvBlock(src, dst);
        foreach (var (src, dst) in work.SlidingBlockCopies) _stage.CopySlidingKvBlock(src, dst);
        foreach (var write in work.KvWrites)
        {
            if (write.Stage != _index) continue;
            long started = Stopwatch.GetTimestamp();
            long bytes = 0;
            for (int i = 0; i < write.Blocks.Length; i++)
            {
                _stage.WriteKvBlock(write.Blocks[i], write.Data[i]);
                bytes += write.Data[i].Length;
            }
            // The copy crossed from the source device (read there) to this one (written here): book both halves.
            _transfer?.Tell(new TransferMeasured(write.Path, bytes, write.ReadSeconds + Stopwatch.GetElapsedTime(started).TotalSeconds));
        }
    }

    /// <summary>
    /// Preemption by swap: KV blocks to host swap slots and back, booked with the transfer actor, which
    /// knows this device's host path.
    /// </summary>
    private void Swap(StepWork work)
    {
        long started = Stopwatch.GetTimestamp();
        foreach (var (block, slot) in work.SwapOut)
        {
            if ((uint)slot >= (uint)_swap.Length) throw new InvalidOperationException($"host swap slot {slot} is outside the {_swap.Length} configured (kv-cache.swap-blocks)");
            var buffer = _swap[slot] ??= new byte[_stage.KvBlockBytes];
            _stage.ReadKvBlock(block, buffer);
        }
        foreach (var (block, slot) in work.SwapIn)
        {
            var buffer = _swap[slot] ?? throw new InvalidOperationException($"host swap slot {slot} holds no swapped block");
            _stage.WriteKvBlock(block, buffer);
        }
        if (!_timeline.ReportsMeasuredCopies || _transfer is null) return;
        long bytes = (long)(work.SwapOut.Count + work.SwapIn.Count) * _stage.KvBlockBytes;
        _transfer.Tell(new HostSwapMeasured(_deviceId, bytes, Stopwatch.GetElapsedTime(started).TotalSeconds));
    }

    /// <summary>Samplers for new sequences, samplers moved in with migrated ones, and forgetting finished ones.</summary>
    private void AdoptSamplers(StepWork work)
    {
        foreach (var setup in work.NewSequences)
        {
            _samplers[setup.SequenceId] = new SequenceSampling(setup.Sampling, setup.PromptTokens, _stage.VocabSize);
            if (setup.Pooling is { } pooling) _pools.Start(setup.SequenceId, pooling, _stage.HiddenSize);
        }
        foreach (var (id, sampler) in work.InstallSamplers) _samplers[id] = sampler;
        foreach (long id in work.ForgetSequences)
        {
            _samplers.Remove(id);
            _pools.Forget(id);
        }
    }

    private SequenceSampling SamplerOf(StepWork work, int row)
    {
        long id = work.SequenceIds[work.LogitSequence[row]];
        return _samplers.TryGetValue(id, out var sampler) ? sampler
            : throw new InvalidOperationException($"no sampler for sequence {id}: its first step did not carry its sampling setup");
    }

    /// <summary>
    /// The k of the rows' top-k this step asks the stage for (<see cref="LogitNeeds.ForStep"/>), or 0 for whole
    /// logit rows: when the setting is off, the stage offers none, or some row needs its whole row.
    /// </summary>
    private int StepTopK(StepWork work)
    {
        int rows = work.Batch.LogitCount;
        if (!_topKSampling || rows == 0) return 0;
        if (_rowTopK.Length < rows) _rowTopK = new int[Math.Max(rows, 2 * _rowTopK.Length)];
        for (int i = 0; i < rows; i++) _rowTopK[i] = SamplerOf(work, i).TopKThatDecides;
        return LogitNeeds.ForStep(_rowTopK.AsSpan(0, rows), _maxTopK);
    }

    /// <summary>Every row decided by its top-k (greedy, or sampling among the k best): nothing else of the row was computed here.</summary>
    private void SampleFromTopK(StepWork work, int k)
    {
        for (int i = 0; i < work.Batch.LogitCount; i++)
        {
            var sampler = SamplerOf(work, i);
            work.SampledLogProbs[i] = 0;
            work.TopCounts[i] = 0;
            try
            {
                work.Sampled[i] = sampler.SampleFromTopK(_topIndices.AsSpan(i * k, k), _topValues.AsSpan(i * k, k));
            }
            catch (ArgumentException ex)
            {
                // As for whole rows: NaN or +inf (the selection reports it first) or nothing but -inf ends this sequence with an error.
                work.Sampled[i] = -1;
                work.RowErrors[i] = $"the model produced invalid logits on {_deviceId}: {ex.Message}";
                work.FailedRows++;
            }
        }
    }

    private void Sample(StepWork work)
    {
        int vocab = _stage.VocabSize;
        for (int i = 0; i < work.Batch.LogitCount; i++)
        {
            var sampler = SamplerOf(work, i);
            const int top = Inference.Sampling.SamplingParameters.MaxTopLogProbs;
            try
            {
                work.Sampled[i] = sampler.Sample(_logits.AsSpan(i * vocab, vocab), out work.SampledLogProbs[i],
                    work.TopTokens.AsSpan(i * top, top), work.TopLogProbs.AsSpan(i * top, top), out work.TopCounts[i]);
            }
            catch (ArgumentException ex)
            {
                // Bad logits (NaN, +inf) end this sequence with an error rather than a garbage token; the rest of the batch carries on.
                work.Sampled[i] = -1;
                work.TopCounts[i] = 0;
                work.RowErrors[i] = $"the model produced invalid logits on {_deviceId}: {ex.Message}";
                work.FailedRows++;
            }
        }
    }

    private void ReadBlocks(ReadKvBlocks m)
    {
        long started = Stopwatch.GetTimestamp();
        var data = new byte[m.Blocks.Length][];
        for (int i = 0; i < m.Blocks.Length; i++)
        {
            data[i] = new byte[_stage.KvBlockBytes];
            _stage.ReadKvBlock(m.Blocks[i], data[i]);
        }
        m.ReplyTo.Tell(new KvBlocksRead(m.CorrelationId, _index, data, Stopwatch.GetElapsedTime(started).TotalSeconds));
    }

    private void WriteBlocks(WriteKvBlocks m)
    {
        long started = Stopwatch.GetTimestamp();
        for (int i = 0; i < m.Blocks.Length; i++) _stage.WriteKvBlock(m.Blocks[i], m.Data[i]);
        m.ReplyTo.Tell(new KvBlocksWritten(m.CorrelationId, _index, Stopwatch.GetElapsedTime(started).TotalSeconds));
    }

    protected override void PostStop() => _stage.Dispose();
}
