using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Actors.Inference.Compute;
using Actors.Runtime.Protocol;

namespace Actors.Runtime.Internal;

/// <summary>
/// Owns one compute device and the stage actors placed on it. It and its stages run on the device's
/// own single thread (a dedicated one-thread dispatcher per device): a CUDA context stays on its
/// thread, CPU compute never lands on the default dispatcher, and two stages on one device never run
/// at once. Stages are loaded here (on that thread) and handed to a child stage actor each.
/// Supervision: a stage actor that fails is stopped, never restarted (a restart would run the new
/// instance on the executor its PostStop disposed); its replica's scheduler watches it and fails the
/// replica. A sticky fault (<see cref="DeviceFaults.IsSticky"/>) takes the whole device out of service.
/// </summary>
internal sealed class DeviceActor : UntypedActor
{
    private readonly IComputeDevice _device;
    private readonly Timing.DeviceTimeline _timeline;
    private readonly string _dispatcher;
    private readonly DeviceBusy _busy = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly long _startedAt = Stopwatch.GetTimestamp();
    /// <summary>Why the device is out of service (a sticky fault), null while it serves.</summary>
    private string? _outOfService;

    public DeviceActor(IComputeDevice device, string dispatcher, Timing.DeviceTimeline timeline)
    {
        _device = device;
        _dispatcher = dispatcher;
        _timeline = timeline;
    }

    public static Props Props(IComputeDevice device, string dispatcher, Timing.DeviceTimeline timeline) =>
        Akka.Actor.Props.Create(() => new DeviceActor(device, dispatcher, timeline)).WithDispatcher(dispatcher);

    private string Id => _device.Descriptor.Id;

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case LoadStage load:
                Load(load);
                break;
            case DeviceFaulted f:
                if (_outOfService is not null) break;
                _outOfService = $"device {Id} is out of service after a sticky fault: {f.Reason}";
                _log.Error("{0}; stopping its {1} stages (their replicas leave rotation)", _outOfService, Context.GetChildren().Count());
                foreach (var stage in Context.GetChildren()) Context.Stop(stage);
                break;
            case GetDeviceStats:
                Sender.Tell(new DeviceStats(Id, _busy.Seconds, _busy.Steps, Stopwatch.GetElapsedTime(_startedAt).TotalSeconds, _busy.ForwardSeconds));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    protected override SupervisorStrategy SupervisorStrategy() => new OneForOneStrategy(error =>
    {
        _log.Error(error, "{0}: a stage actor failed ({1}); stopping it (its executor is disposed, never reused)", Id, error.Message);
        return Directive.Stop;
    });

    private void Load(LoadStage m)
    {
        if (_outOfService is not null)
        {
            Sender.Tell(new StageLoadFailed(m.Replica, m.Stage, Id, _outOfService));
            return;
        }
        IStageExecutor stage;
        try
        {
            stage = _device.LoadStage(m.Model, m.Layers, m.Kv, m.MaxBatchTokens);
            if (m.WarmUp) StageWarmUp.Run(stage);
        }
        catch (Exception ex)
        {
            Sender.Tell(new StageLoadFailed(m.Replica, m.Stage, Id, ex.Message));
            return;
        }
        var faults = m.Faults is { AffectsSteps: true } f ? new FaultInjector(f, 64 * m.Replica + m.Stage) : null;
        var actor = Context.ActorOf(
            Akka.Actor.Props.Create(() => new StageActor(stage, m.Replica, m.Stage, Id, m.SwapSlots, _busy, _timeline, faults, m.TopKSampling)).WithDispatcher(_dispatcher),
            $"replica-{m.Replica}-stage-{m.Stage}");
        _log.Info("{0}: loaded replica {1} stage {2} ({3}, {4} KV blocks of {5} tokens)", Id, m.Replica, m.Stage, m.Layers, m.Kv.NumBlocks, m.Kv.BlockSize);
        Sender.Tell(new StageLoaded(m.Replica, m.Stage, Id, stage.KvBlockBytes, actor));
    }

    protected override void PostStop() => _device.Dispose();
}
