using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using Actors.Inference.Compute;
using Actors.Inference.Model;

namespace Actors.Runtime.Remote;

/// <summary>
/// Serves pipeline stages of another node's replica on this node's device. Control comes over
/// Akka.Remote to the actor at <c>/user/llm-stage-host</c> (<see cref="DescribeStageHost"/>,
/// <see cref="OpenRemoteStage"/>); each stage then gets its own TCP data connection to this host's
/// listener, served by a thread of its own (<see cref="StageSession"/>), which is where the stage's
/// compute runs: never on Akka's dispatchers. Stages of several sessions share the device one call at a
/// time. A runtime uses it through a device entry with <c>node = "akka.tcp://system@host:port"</c>.
/// </summary>
public sealed class StageHost : IDisposable
{
    public const string ActorName = "llm-stage-host";

    private readonly TcpListener _listener;
    private readonly ConcurrentDictionary<string, OpenRemoteStage> _pending = new();
    private readonly ConcurrentDictionary<StageSession, byte> _sessions = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly ILoggingAdapter _log;

    public LlamaModel Model { get; }
    public IComputeDevice Device { get; }
    /// <summary>Held while the device runs a call: sessions share it one call at a time.</summary>
    internal object DeviceGate { get; } = new();
    public IActorRef Actor { get; }
    /// <summary>The data endpoint runtimes connect to.</summary>
    public IPEndPoint DataEndpoint { get; }
    /// <summary>How long a session waits on a silent runtime, and a new connection for its key.</summary>
    public TimeSpan IoTimeout { get; }
    public int Sessions => _sessions.Count;

    private StageHost(ActorSystem system, LlamaModel model, IComputeDevice device, IPAddress address, int port, TimeSpan ioTimeout)
    {
        Model = model;
        Device = device;
        IoTimeout = ioTimeout;
        _log = Logging.GetLogger(system, nameof(StageHost));
        Serialization.RuntimeMessageSerializer.EnsureBound(system);
        _listener = new TcpListener(address, port);
        _listener.Start();
        DataEndpoint = (IPEndPoint)_listener.LocalEndpoint;
        Actor = system.ActorOf(Props.Create(() => new HostActor(this)), ActorName);
        _ = AcceptLoop();
        system.RegisterOnTermination(Dispose);
    }

    /// <summary>
    /// Starts a stage host on <paramref name="system"/> (which needs Akka.Remote) serving <paramref name="model"/>
    /// on <paramref name="device"/>; its data listener binds <paramref name="address"/> (loopback unless given) on
    /// <paramref name="port"/> (0: any free port).
    /// </summary>
    public static StageHost Start(ActorSystem system, LlamaModel model, IComputeDevice device, IPAddress? address = null, int port = 0, TimeSpan? ioTimeout = null) =>
        new(system, model, device, address ?? IPAddress.Loopback, port, ioTimeout ?? TimeSpan.FromSeconds(30));

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _log.Warning("stage host: accept failed: {0}", ex.Message);
                continue;
            }
            var session = new StageSession(this, socket);
            _sessions[session] = 0;
            session.Start(() => _sessions.TryRemove(session, out _));
        }
    }

    internal void Warn(string message) => _log.Warning(message);

    /// <summary>The stage a session key opens, taken once.</summary>
    internal OpenRemoteStage? Claim(string key) => _pending.TryRemove(key, out var open) ? open : null;

    internal string Describe(ModelIdentity runtimeModel)
    {
        var mine = ModelIdentity.Of(Model);
        return mine == runtimeModel ? "" : $"the stage host serves another model ({mine}) than the runtime runs ({runtimeModel})";
    }

    public void Dispose()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener.Stop();
        foreach (var s in _sessions.Keys) s.Dispose();
    }

    internal static KvCacheSpec Kv(EstimateRemoteStage s, LlamaConfig c) => new(s.BlockSize, s.NumBlocks, c.HeadCountKv, c.HeadDim, (KvCacheType)s.KvType);

    /// <summary>The control side: describes the device, estimates stages, hands out session keys. Nothing here blocks.</summary>
    private sealed class HostActor : ReceiveActor
    {
        public HostActor(StageHost host)
        {
            Receive<DescribeStageHost>(m =>
            {
                var d = host.Device.Descriptor;
                string problem = host.Describe(m.Model);
                Sender.Tell(new StageHostInfo
                {
                    DeviceId = d.Id, DeviceName = d.Name, Kind = (int)d.Kind, MemoryBytes = d.MemoryBytes, Threads = d.Threads,
                    ReturnsHiddenStates = host.Device.ReturnsHiddenStates, Problem = problem.Length == 0 ? null : problem,
                });
            });
            Receive<EstimateRemoteStage>(m => Sender.Tell(new RemoteStageEstimate
            {
                Bytes = host.Device.EstimateStageBytes(host.Model, new LayerRange(m.LayerStart, m.LayerEnd), Kv(m, host.Model.Config), m.MaxBatchTokens),
            }));
            Receive<OpenRemoteStage>(m =>
            {
                string problem = m.ProbeOnly ? "" : host.Describe(m.Model);
                if (problem.Length == 0 && !m.ProbeOnly && (m.Stage.LayerStart < 0 || m.Stage.LayerEnd > host.Model.Config.BlockCount || m.Stage.LayerStart >= m.Stage.LayerEnd))
                    problem = $"layers [{m.Stage.LayerStart}, {m.Stage.LayerEnd}) are not a range of the model's {host.Model.Config.BlockCount}";
                if (problem.Length > 0)
                {
                    Sender.Tell(new RemoteStageOpened { Problem = problem });
                    return;
                }
                var key = RandomNumberGenerator.GetBytes(16);
                host._pending[Convert.ToHexString(key)] = m;
                var ep = host.DataEndpoint;
                Sender.Tell(new RemoteStageOpened { Host = ep.Address.ToString(), Port = ep.Port, SessionKey = key });
            });
        }
    }
}
