using System.Diagnostics;
using System.Net.Sockets;
using Actors.Inference.Compute;

namespace Actors.Runtime.Remote;

/// <summary>
/// One remote stage on a stage host: its data connection and the thread that serves it. The runtime's
/// first frame presents the session key (<see cref="FrameKind.Hello"/>); the session loads the stage and
/// answers <see cref="FrameKind.Ready"/>, then serves one request frame at a time (a step, a KV page, a
/// probe) until the runtime closes the connection or goes silent for the host's I/O timeout. A request
/// that fails is answered with <see cref="FrameKind.Error"/> and the session goes on; a broken connection
/// ends it and frees the stage.
/// </summary>
internal sealed class StageSession(StageHost host, Socket socket) : IDisposable
{
    private readonly StepBatch _batch = new();
    private float[] _in = [], _out = [], _topValues = [];
    private int[] _topIndices = [];
    private byte[] _kv = [];
    private IStageExecutor? _stage;
    private int _maxTokens;
    private readonly string _peer = socket.RemoteEndPoint?.ToString() ?? "a runtime";

    public void Start(Action ended)
    {
        var thread = new Thread(() =>
        {
            try
            {
                Serve();
            }
            catch (Exception ex)
            {
                // The runtime went away, went silent past the I/O timeout, or sent a broken stream: it sees its
                // connection close and fails its steps; the host only notes why the stage was dropped.
                host.Warn($"stage host: dropped the session of {_peer} ({_stage?.Layers.ToString() ?? "no stage"}): {ex.Message}");
            }
            finally
            {
                Dispose();
                ended();
            }
        }) { IsBackground = true, Name = "actors-stage-session" };
        thread.Start();
    }

    private void Serve()
    {
        socket.NoDelay = true;
        socket.SendBufferSize = DataFrames.SocketBufferBytes;
        socket.ReceiveBufferSize = DataFrames.SocketBufferBytes;
        int timeout = (int)Math.Min(int.MaxValue, host.IoTimeout.TotalMilliseconds);
        socket.ReceiveTimeout = timeout;
        socket.SendTimeout = timeout;
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var f = new DataFrames(stream, _peer);
        var (kind, length) = f.Next();
        if (kind != FrameKind.Hello || length != 16) throw new InvalidDataException($"the first frame from {f.Peer} is {kind} of {length} bytes, not a 16-byte hello");
        var key = new byte[16];
        f.ReadInto(key);
        var open = host.Claim(Convert.ToHexString(key));
        if (open is null)
        {
            Fail(f, "unknown or already used session key (ask the stage host with OpenRemoteStage first)");
            return;
        }
        if (open.ProbeOnly)
        {
            f.Begin();
            f.Put(0);
            f.Put(0);
            f.Put(0);
            f.Put(0);
            f.Send(FrameKind.Ready);
            while (true)
            {
                (kind, length) = f.Next();
                if (kind == FrameKind.Close) return;
                if (kind != FrameKind.Echo) throw new InvalidDataException($"a probe session from {f.Peer} got {kind}");
                Handle(f, kind, length);
            }
        }
        try
        {
            var s = open.Stage;
            _maxTokens = Math.Max(1, s.MaxBatchTokens);
            lock (host.DeviceGate) _stage = host.Device.LoadStage(host.Model, new LayerRange(s.LayerStart, s.LayerEnd), StageHost.Kv(s, host.Model.Config), s.MaxBatchTokens);
        }
        catch (Exception ex)
        {
            Fail(f, $"loading layers [{open.Stage.LayerStart}, {open.Stage.LayerEnd}) on {host.Device.Descriptor.Id} failed: {ex.Message}");
            return;
        }
        f.Begin();
        f.Put(_stage.KvBlockBytes);
        f.Put(_stage.HiddenSize);
        f.Put(_stage.VocabSize);
        f.Put(_stage.MaxLogitTopK);
        f.Send(FrameKind.Ready);
        while (true)
        {
            (kind, length) = f.Next();
            if (kind == FrameKind.Close) return;
            try
            {
                Handle(f, kind, length);
            }
            catch (Exception ex) when (ex is not IOException and not SocketException and not InvalidDataException and not ObjectDisposedException)
            {
                f.Skip();
                Fail(f, ex.Message);
            }
        }
    }

    private void Handle(DataFrames f, FrameKind kind, int length)
    {
        if (kind == FrameKind.Echo)
        {
            var bytes = new byte[length];
            f.ReadInto(bytes);
            f.Begin();
            f.Put(bytes);
            f.Send(FrameKind.Echo);
            return;
        }
        var stage = _stage!;
        switch (kind)
        {
            case FrameKind.Forward:
            {
                StepBatchCodec.Read(f, _batch, _maxTokens);
                int n = f.ReadLength(_maxTokens * stage.HiddenSize, "hidden states");
                if (_in.Length < n) _in = new float[n];
                f.ReadInto(_in.AsSpan(0, n));
                int outLength = _batch.TokenCount == 0 ? 0 : stage.OutputLength(_batch);
                if (_out.Length < outLength) _out = new float[outLength];
                long started = Stopwatch.GetTimestamp();
                if (_batch.TokenCount > 0)
                    lock (host.DeviceGate) stage.Forward(_batch, _in.AsSpan(0, n), _out.AsSpan(0, outLength));
                double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                f.Begin();
                f.Put(seconds);
                f.PutArray(_out.AsSpan(0, outLength));
                f.Send(FrameKind.Output);
                break;
            }
            case FrameKind.ForwardTopK:
            {
                StepBatchCodec.Read(f, _batch, _maxTokens);
                int k = f.ReadInt();
                if (k < 1 || k > stage.MaxLogitTopK) throw new InvalidOperationException($"top-k of {k} asked; this stage returns 1..{stage.MaxLogitTopK}");
                int n = f.ReadLength(_maxTokens * stage.HiddenSize, "hidden states");
                if (_in.Length < n) _in = new float[n];
                f.ReadInto(_in.AsSpan(0, n));
                int rows = _batch.LogitCount * k;
                if (_topIndices.Length < rows) (_topIndices, _topValues) = (new int[rows], new float[rows]);
                long started = Stopwatch.GetTimestamp();
                if (_batch.TokenCount > 0)
                    lock (host.DeviceGate) stage.ForwardTopK(_batch, _in.AsSpan(0, n), k, _topIndices.AsSpan(0, rows), _topValues.AsSpan(0, rows));
                double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                f.Begin();
                f.Put(seconds);
                f.PutArray(_topIndices.AsSpan(0, rows));
                f.PutArray(_topValues.AsSpan(0, rows));
                f.Send(FrameKind.TopK);
                break;
            }
            case FrameKind.ReadNormed:
            {
                int token = f.ReadInt();
                if (_out.Length < stage.HiddenSize) _out = new float[stage.HiddenSize];
                lock (host.DeviceGate) stage.ReadNormedHidden(token, _out.AsSpan(0, stage.HiddenSize));
                f.Begin();
                f.Put(0.0);
                f.PutArray(_out.AsSpan(0, stage.HiddenSize));
                f.Send(FrameKind.Output);
                break;
            }
            case FrameKind.ReadKv:
            {
                int block = f.ReadInt();
                EnsureKv(stage);
                lock (host.DeviceGate) stage.ReadKvBlock(block, _kv);
                f.Begin();
                f.PutArray(_kv.AsSpan(0, stage.KvBlockBytes));
                f.Send(FrameKind.KvBytes);
                break;
            }
            case FrameKind.WriteKv:
            {
                int block = f.ReadInt();
                EnsureKv(stage);
                int n = f.ReadLength(stage.KvBlockBytes, "a KV page");
                f.ReadInto(_kv.AsSpan(0, n));
                lock (host.DeviceGate) stage.WriteKvBlock(block, _kv.AsSpan(0, n));
                Ack(f);
                break;
            }
            case FrameKind.CopyKv:
            {
                int source = f.ReadInt(), destination = f.ReadInt();
                lock (host.DeviceGate) stage.CopyKvBlock(source, destination);
                Ack(f);
                break;
            }
            default:
                f.Skip();
                throw new InvalidOperationException($"a {kind} frame is not a request");
        }
    }

    private void EnsureKv(IStageExecutor stage)
    {
        if (_kv.Length < stage.KvBlockBytes) _kv = new byte[stage.KvBlockBytes];
    }

    private static void Ack(DataFrames f)
    {
        f.Begin();
        f.Send(FrameKind.Ack);
    }

    private static void Fail(DataFrames f, string reason)
    {
        f.Begin();
        f.Put(System.Text.Encoding.UTF8.GetBytes(reason));
        f.Send(FrameKind.Error);
    }

    public void Dispose()
    {
        try { socket.Dispose(); } catch (ObjectDisposedException) { }
        var stage = Interlocked.Exchange(ref _stage, null);
        if (stage is not null) lock (host.DeviceGate) stage.Dispose();
    }
}
