using Actors.Inference.Compute;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Timing;

/// <summary>
/// How one device books its work on the runtime's clock. Real: the measured seconds, and copies are
/// reported as measured. Virtual: the cost model's seconds for a simulated stage, one stage at a
/// time on the device, each step's data ready when its stage ends; copies are booked by the link
/// timeline instead. One per device, used only on that device's thread.
/// </summary>
internal abstract class DeviceTimeline
{
    public static DeviceTimeline For(bool virtualClock) => virtualClock ? new Virtual() : new Real();

    /// <summary>Seconds to book for the stage's last piece of work (measured: <paramref name="measured"/>), moving <paramref name="readyAt"/> to when its output is ready.</summary>
    public abstract double Book(IStageExecutor stage, bool computed, double measured, ref double readyAt);

    /// <summary>True when copies the device makes are reported with their measured time (a real run).</summary>
    public abstract bool ReportsMeasuredCopies { get; }

    private sealed class Real : DeviceTimeline
    {
        public override double Book(IStageExecutor stage, bool computed, double measured, ref double readyAt) => measured;
        public override bool ReportsMeasuredCopies => true;
    }

    private sealed class Virtual : DeviceTimeline
    {
        private double _busyUntil;

        public override double Book(IStageExecutor stage, bool computed, double measured, ref double readyAt)
        {
            double seconds = stage is ITimedStage timed && computed ? timed.LastStepSeconds : measured;
            double start = Math.Max(readyAt, _busyUntil);
            readyAt = _busyUntil = start + seconds;
            return seconds;
        }

        public override bool ReportsMeasuredCopies => false;
    }
}

/// <summary>
/// How activations crossing a link are timed. Real: the receiving device measures the copy. Virtual:
/// a copy starts when its data is ready and its link is free and takes latency plus bytes over
/// bandwidth; transfers on one link queue behind each other, and every host-staged copy shares the
/// host. Copies arrive out of virtual order, so each link keeps a calendar (<see cref="VirtualLinkCalendar"/>).
/// </summary>
internal abstract class LinkTimeline
{
    public static LinkTimeline For(bool virtualClock, TransferAccounting accounting) => virtualClock ? new Virtual(accounting) : new Real();

    /// <summary>When the copy's data is ready on the far side (unchanged on a real clock).</summary>
    public abstract double Arrive(TransferPath path, long bytes, double readyAt);

    private sealed class Real : LinkTimeline
    {
        public override double Arrive(TransferPath path, long bytes, double readyAt) => readyAt;
    }

    private sealed class Virtual(TransferAccounting accounting) : LinkTimeline
    {
        private readonly Dictionary<string, VirtualLinkCalendar> _calendars = new();

        public override double Arrive(TransferPath path, long bytes, double readyAt)
        {
            if (path.Kind == PathKind.SameDevice) return readyAt;
            string link = path.Kind == PathKind.HostStaged ? "host" : path.Kind == PathKind.Network ? "network" : path.From + ">" + path.To;
            if (!_calendars.TryGetValue(link, out var calendar)) _calendars[link] = calendar = new VirtualLinkCalendar();
            double seconds = path.EstimateSeconds(bytes);
            double start = calendar.Reserve(readyAt, seconds);
            accounting.Record(path, bytes, seconds);
            return start + seconds;
        }
    }
}
