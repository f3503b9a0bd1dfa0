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
/// </summary>
internal sealed class DeviceActor : UntypedActor
{
    private readonly IComputeDevice _device;
    private readonly Timing.DeviceTimeline _timeline;
    private readonly string _dispatcher;
    private readonly DeviceBusy _busy = new();
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly long _startedAt = Stopwatch.GetTimestamp();

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
            case GetDeviceStats:
                Sender.Tell(new DeviceStats(Id, _busy.Seconds, _busy.Steps, Stopwatch.GetElapsedTime(_startedAt).TotalSeconds, _busy.ForwardSeconds));
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Load(LoadStage m)
    {
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
        var actor = Context.ActorOf(
            Akka.Actor.Props.Create(() => new StageActor(stage, m.Replica, m.Stage, Id, m.SwapSlots, _busy, _timeline)).WithDispatcher(_dispatcher),
            $"replica-{m.Replica}-stage-{m.Stage}");
        _log.Info("{0}: loaded replica {1} stage {2} ({3}, {4} KV blocks of {5} tokens)", Id, m.Replica, m.Stage, m.Layers, m.Kv.NumBlocks, m.Kv.BlockSize);
        Sender.Tell(new StageLoaded(m.Replica, m.Stage, Id, stage.KvBlockBytes, actor));
    }

    protected override void PostStop() => _device.Dispose();
}
