using System.Diagnostics;
using System.Net.Sockets;
using Akka.Actor;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Runtime.Configuration;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Remote;

/// <summary>
/// A device on another node, as this runtime sees it: a configured device with <c>node</c> set. It asks
/// the node's <see cref="StageHost"/> over Akka.Remote what the device is and, for each stage placed on it,
/// opens a data connection on which the stage runs (<see cref="RemoteStageExecutor"/>). Its calls come
/// from its device actor's own thread (start-up from the caller's), so waiting on the host blocks no
/// dispatcher.
/// </summary>
public sealed class RemoteComputeDevice : IComputeDevice
{
    private readonly ICanTell _host;
    private readonly string _node;
    private readonly StageHostInfo _info;
    private readonly TimeSpan _ioTimeout;
    private readonly TransferAccounting _accounting;

    public DeviceDescriptor Descriptor { get; }
    public bool ReturnsHiddenStates => _info.ReturnsHiddenStates;
    /// <summary>The link model fitted to this device's data connection when its last stage was opened (null before).</summary>
    public LinkModel? MeasuredLink { get; private set; }

    public RemoteComputeDevice(DeviceOptions options, ActorSystem system, LlamaModel model, TimeSpan ioTimeout, TransferAccounting accounting)
    {
        _node = options.Node;
        if (((ExtendedActorSystem)system).Provider is LocalActorRefProvider)
            throw new InvalidConfigurationException($"device \"{options.Id}\" is on node {options.Node}, but this actor system has no remoting: set akka.actor.provider = remote (or cluster) and akka.remote.dot-netty.tcp");
        _ioTimeout = ioTimeout;
        _accounting = accounting;
        var path = $"{options.Node.TrimEnd('/')}/user/{StageHost.ActorName}";
        Serialization.RuntimeMessageSerializer.EnsureBound(system);
        _host = system.ActorSelection(path);
        _identity = ModelIdentity.Of(model);
        _info = Ask<StageHostInfo>(new DescribeStageHost { Model = _identity }, "describe its device");
        if (_info.Problem is { } problem) throw new InvalidConfigurationException($"device \"{options.Id}\" on {_node}: {problem}");
        Descriptor = new DeviceDescriptor(options.Id, (DeviceKind)_info.Kind, $"{_info.DeviceName} ({_info.DeviceId} on {_node})", _info.MemoryBytes, _info.Threads);
    }

    private readonly ModelIdentity _identity;

    public long EstimateStageBytes(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens) =>
        Ask<RemoteStageEstimate>(Stage(layers, kv, maxBatchTokens), "estimate a stage").Bytes;

    public IStageExecutor LoadStage(LlamaModel model, LayerRange layers, KvCacheSpec kv, int maxBatchTokens)
    {
        var opened = Ask<RemoteStageOpened>(new OpenRemoteStage { Stage = Stage(layers, kv, maxBatchTokens), Model = _identity }, "open a stage");
        if (opened.Problem is { } problem) throw new InvalidOperationException($"the stage host on {_node} refused {layers}: {problem}");
        var executor = Connect(opened, Descriptor.Id, _node, layers, kv, model.Config.BlockCount, _ioTimeout);
        try
        {
            MeasuredLink = executor.MeasureLink();
        }
        catch
        {
            executor.Dispose();
            throw;
        }
        _accounting.RecordLink(Descriptor.Id, MeasuredLink.Value);
        return executor;
    }

    /// <summary>
    /// Measures the data connection to the stage host of <paramref name="node"/> without loading anything (a probe
    /// session that only echoes): the link model `actors topology` shows for a remote device.
    /// </summary>
    public static LinkModel MeasureNode(ActorSystem system, string node, TimeSpan timeout)
    {
        Serialization.RuntimeMessageSerializer.EnsureBound(system);
        var host = system.ActorSelection($"{node.TrimEnd('/')}/user/{StageHost.ActorName}");
        RemoteStageOpened opened;
        try
        {
            opened = host.Ask<RemoteStageOpened>(new OpenRemoteStage { ProbeOnly = true }, timeout).GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            throw new InvalidConfigurationException($"the stage host at {node}/user/{StageHost.ActorName} did not answer within {timeout.TotalSeconds:F0} s (is the node up, with a stage host started?)");
        }
        using var probe = Connect(opened, "probe", node, default, new KvCacheSpec(1, 1, 1, 1), 0, timeout);
        return probe.MeasureLink();
    }

    private static RemoteStageExecutor Connect(RemoteStageOpened opened, string deviceId, string node, LayerRange layers, KvCacheSpec kv, int modelLayers, TimeSpan ioTimeout)
    {
        var client = new TcpClient { NoDelay = true, SendBufferSize = DataFrames.SocketBufferBytes, ReceiveBufferSize = DataFrames.SocketBufferBytes };
        string endpoint = $"{opened.Host}:{opened.Port}";
        try
        {
            using var connect = new CancellationTokenSource(ioTimeout);
            client.ConnectAsync(opened.Host, opened.Port, connect.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException)
        {
            client.Dispose();
            throw new IOException($"the data endpoint {endpoint} of the stage host on {node} is unreachable: {(ex is OperationCanceledException ? $"no connection within {ioTimeout.TotalSeconds:F0} s" : ex.Message)}", ex);
        }
        var executor = new RemoteStageExecutor(client, $"{deviceId} ({node}, data {endpoint})", layers, kv, modelLayers, ioTimeout);
        try
        {
            executor.Open(opened.SessionKey);
        }
        catch
        {
            executor.Dispose();
            throw;
        }
        return executor;
    }

    private static EstimateRemoteStage Stage(LayerRange layers, KvCacheSpec kv, int maxBatchTokens) => new()
    {
        LayerStart = layers.Start, LayerEnd = layers.End, BlockSize = kv.BlockSize, NumBlocks = kv.NumBlocks, KvType = (int)kv.Type, MaxBatchTokens = maxBatchTokens,
    };

    private T Ask<T>(object message, string what)
    {
        try
        {
            return _host switch
            {
                ActorSelection s => s.Ask<T>(message, _ioTimeout).GetAwaiter().GetResult(),
                IActorRef r => r.Ask<T>(message, _ioTimeout).GetAwaiter().GetResult(),
                _ => throw new InvalidOperationException("no stage host"),
            };
        }
        catch (Exception ex) when (ex is AskTimeoutException or TaskCanceledException)
        {
            throw new InvalidConfigurationException($"the stage host at {_node}/user/{StageHost.ActorName} did not answer within {_ioTimeout.TotalSeconds:F0} s when asked to {what} (is the node up, with a stage host started?)");
        }
    }

    public void Dispose()
    {
    }
}
