using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Actors.Inference.Compute;

namespace Actors.Runtime.Internal;

/// <summary>
/// Owns one compute device and runs its stages on the actor's own thread (a pinned dispatcher:
/// a CUDA context stays on its thread; CPU compute never lands on the default dispatcher). Each
/// message is one bounded unit of work — one stage of one step — so loads, KV copies and stats
/// interleave with compute. The last stage of a replica samples; other stages hand their hidden
/// states to the transfer actor.
/// </summary>
internal sealed class DeviceActor : UntypedActor
{
    private readonly IComputeDevice _device;
    private readonly Dictionary<(int Replica, int Stage), IStageExecutor> _stages = new();
    private readonly Dictionary<(int Replica, int Stage), byte[]?[]> _swap = new();
    private readonly Dictionary<long, SequenceSampling> _samplers = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly long _startedAt = Stopwatch.GetTimestamp();
    private float[] _logits = [];
    private double _busySeconds;
    private long _steps;

    public DeviceActor(IComputeDevice device) => _device = device;

    public static Props Props(IComputeDevice device, string dispatcher) =>
        Akka.Actor.Props.Create(() => new DeviceActor(device)).WithDispatcher(dispatcher);

    private string Id => _device.Descriptor.Id;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case RunStage run:
                Run(run);
                break;
            case LoadStage load:
                Load(load);
                break;
            case ReadKvBlocks read:
                ReadBlocks(read);
                break;
            case WriteKvBlocks write:
                WriteBlocks(write);
                break;
            case GetDeviceStats:
                Sender.Tell(new DeviceStats(Id, _busySeconds, _steps, Stopwatch.GetElapsedTime(_startedAt).TotalSeconds));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Load(LoadStage m)
    {
        try
        {
            var stage = _device.LoadStage(m.Model, m.Layers, m.Kv, m.MaxBatchTokens);
            _stages[(m.Replica, m.Stage)] = stage;
            _swap[(m.Replica, m.Stage)] = new byte[]?[m.SwapSlots];
            _log.Info("{0}: loaded replica {1} stage {2} ({3}, {4} KV blocks of {5} tokens)", Id, m.Replica, m.Stage, m.Layers, m.Kv.NumBlocks, m.Kv.BlockSize);
            Sender.Tell(new StageLoaded(m.Replica, m.Stage, Id, stage.KvBlockBytes));
        }
        catch (Exception ex)
        {
            Sender.Tell(new StageLoadFailed(m.Replica, m.Stage, Id, ex.Message));
        }
    }

    private void Run(RunStage m)
    {
        var work = m.Work;
        var input = m.IncomingPath is { } path ? ReceiveHidden(m, path) : m.Input;
        long started = Stopwatch.GetTimestamp();
        HiddenBuffer? output = null;
        try
        {
            var stage = _stages[(work.Replica, m.Stage)];
            ApplyMaintenance(work, m.Stage, stage);
            if (stage.IsLast)
            {
                int n = work.Batch.LogitCount * stage.VocabSize;
                if (_logits.Length < n) _logits = new float[n];
                stage.Forward(work.Batch, input is null ? ReadOnlySpan<float>.Empty : input.Span, _logits.AsSpan(0, n));
                input?.Return();
                Sample(work, stage.VocabSize);
            }
            else
            {
                output = HiddenBuffer.Rent(work.Batch.TokenCount * stage.HiddenSize);
                stage.Forward(work.Batch, input is null ? ReadOnlySpan<float>.Empty : input.Span, output.Span);
                input?.Return();
            }
        }
        catch (Exception ex)
        {
            output?.Return();
            _log.Error(ex, "{0}: replica {1} stage {2} failed on step {3}", Id, work.Replica, m.Stage, work.StepId);
            m.Route.Scheduler.Tell(new StepFailed(work, m.Stage, Id, ex));
            return;
        }
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        work.StageSeconds[m.Stage] = seconds;
        _busySeconds += seconds;
        _steps++;
        if (output is null) m.Route.Scheduler.Tell(new StepCompleted(work));
        else m.Route.Transfer.Tell(new StageOutput(work, m.Stage, m.Route, output));
    }

    /// <summary>
    /// Copies incoming hidden states into this device's own buffer over the path the transfer actor
    /// chose (a host-memory copy between CPU devices), and reports bytes and time for accounting.
    /// </summary>
    private HiddenBuffer ReceiveHidden(RunStage m, Transfer.TransferPath path)
    {
        var source = m.Input ?? throw new InvalidOperationException("a transfer without hidden states");
        if (path.Kind == Transfer.PathKind.SameDevice) return source;
        long started = Stopwatch.GetTimestamp();
        var local = HiddenBuffer.Rent(source.Length);
        source.Span.CopyTo(local.Span);
        source.Return();
        m.Route.Transfer.Tell(new TransferMeasured(path, 4L * local.Length, Stopwatch.GetElapsedTime(started).TotalSeconds));
        return local;
    }

    /// <summary>KV maintenance the scheduler attached to the step: copy-on-write copies and swaps, before the forward.</summary>
    private void ApplyMaintenance(StepWork work, int stageIndex, IStageExecutor stage)
    {
        foreach (var (src, dst) in work.BlockCopies) stage.CopyKvBlock(src, dst);
        if (work.SwapOut.Count == 0 && work.SwapIn.Count == 0) return;
        var swap = _swap[(work.Replica, stageIndex)];
        foreach (var (block, slot) in work.SwapOut)
        {
            if ((uint)slot >= (uint)swap.Length) throw new InvalidOperationException($"host swap slot {slot} is outside the {swap.Length} configured (kv-cache.swap-blocks)");
            var buffer = swap[slot] ??= new byte[stage.KvBlockBytes];
            stage.ReadKvBlock(block, buffer);
        }
        foreach (var (block, slot) in work.SwapIn)
        {
            var buffer = swap[slot] ?? throw new InvalidOperationException($"host swap slot {slot} holds no swapped block");
            stage.WriteKvBlock(block, buffer);
        }
    }

    private void Sample(StepWork work, int vocab)
    {
        foreach (var setup in work.NewSequences)
            _samplers[setup.SequenceId] = new SequenceSampling(setup.Sampling, setup.PromptTokens, vocab);
        foreach (long id in work.ForgetSequences) _samplers.Remove(id);
        for (int i = 0; i < work.Batch.LogitCount; i++)
        {
            long id = work.SequenceIds[work.LogitSequence[i]];
            if (!_samplers.TryGetValue(id, out var sampler))
                throw new InvalidOperationException($"no sampler for sequence {id}: its first step did not carry its sampling setup");
            work.Sampled[i] = sampler.Sample(_logits.AsSpan(i * vocab, vocab), out work.SampledLogProbs[i]);
        }
    }

    private void ReadBlocks(ReadKvBlocks m)
    {
        long started = Stopwatch.GetTimestamp();
        var stage = _stages[(m.Replica, m.Stage)];
        var data = new byte[m.Blocks.Length][];
        for (int i = 0; i < m.Blocks.Length; i++)
        {
            data[i] = new byte[stage.KvBlockBytes];
            stage.ReadKvBlock(m.Blocks[i], data[i]);
        }
        m.ReplyTo.Tell(new KvBlocksRead(m.CorrelationId, m.Stage, data, Stopwatch.GetElapsedTime(started).TotalSeconds));
    }

    private void WriteBlocks(WriteKvBlocks m)
    {
        long started = Stopwatch.GetTimestamp();
        var stage = _stages[(m.Replica, m.Stage)];
        for (int i = 0; i < m.Blocks.Length; i++) stage.WriteKvBlock(m.Blocks[i], m.Data[i]);
        m.ReplyTo.Tell(new KvBlocksWritten(m.CorrelationId, m.Stage, Stopwatch.GetElapsedTime(started).TotalSeconds));
    }

    protected override void PostStop()
    {
        foreach (var s in _stages.Values) s.Dispose();
        _device.Dispose();
    }
}
