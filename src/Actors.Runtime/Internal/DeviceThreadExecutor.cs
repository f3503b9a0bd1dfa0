using Akka.Configuration;
using Akka.Dispatch;

namespace Actors.Runtime.Internal;

/// <summary>A device dispatcher's executor: its mailboxes run on the device's <see cref="DeviceThread"/>.</summary>
internal sealed class DeviceThreadExecutor(string id, DeviceThread thread) : ExecutorService(id)
{
    public override void Execute(IRunnable run) => thread.Post(run);

    /// <summary>Nothing to do: the thread belongs to the runtime and ends when its actor system has terminated.</summary>
    public override void Shutdown()
    {
    }
}

/// <summary>A scheduler dispatcher's executor: on its device's thread while that has no device work, else on the thread pool.</summary>
internal sealed class GuestExecutor(string id, DeviceThread thread) : ExecutorService(id)
{
    public override void Execute(IRunnable run) => thread.PostGuest(run);

    public override void Shutdown()
    {
    }
}

/// <summary>
/// Makes the executor of a dispatcher whose config names this type as its executor and its device
/// thread's key as <c>device-thread</c>; <c>guest = on</c> makes a <see cref="GuestExecutor"/>.
/// </summary>
internal sealed class DeviceThreadExecutorConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : ExecutorServiceConfigurator(config, prerequisites)
{
    public override ExecutorService Produce(string id)
    {
        var thread = DeviceThread.Find(Config.GetString("device-thread"));
        return Config.GetBoolean("guest") ? new GuestExecutor(id, thread) : new DeviceThreadExecutor(id, thread);
    }
}
