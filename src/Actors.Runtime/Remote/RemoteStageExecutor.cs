using System.Diagnostics;
using System.Net.Sockets;
using Actors.Inference.Compute;
using Actors.Inference.Model;
using Actors.Runtime.Transfer;

namespace Actors.Runtime.Remote;

/// <summary>One exchange with a remote stage: bytes each way (frames, headers included), its wall time, and the remote compute inside it.</summary>
public readonly record struct RemoteExchange(long SentBytes, long ReceivedBytes, double Seconds, double RemoteSeconds)
{
    /// <summary>What the network took: the round trip less the remote compute.</summary>
    public double NetworkSeconds => Math.Max(0, Seconds - RemoteSeconds);
}

/// <summary>A stage whose layers run elsewhere; the stage actor books its exchanges on the network path.</summary>
public interface IRemoteStage
{
    RemoteExchange LastExchange { get; }
}

/// <summary>
/// A stage running on a <see cref="StageHost"/>'s device, driven over its data connection: each call is one
/// request frame and one answer, synchronously on the calling device thread (as a GPU stage waits for its
/// kernels). A step sends the batch and the incoming hidden states and receives the outgoing hidden states
/// or logits straight into the caller's buffer; KV pages (swap, migration, copy-on-write) go the same way.
/// A broken or silent connection (the peer died, or hung past the I/O timeout) is a sticky fault: the step
/// fails with the reason, the device leaves service and its replica with it, so nothing waits for ever.
/// A failure the host reports (a bad batch) fails that step only.
/// </summary>
public sealed class RemoteStageExecutor : IStageExecutor, IRemoteStage
{
    private readonly TcpClient _client;
    private readonly DataFrames _frames;
    private readonly string _name;
    private int _kvBlockBytes, _hidden, _vocab, _maxTopK;
    private bool _broken;
    private readonly TimeSpan _ioTimeout;

    public LayerRange Layers { get; }
    public bool IsFirst { get; }
    public bool IsLast { get; }
    public int HiddenSize => _hidden;
    public int VocabSize => _vocab;
    public KvCacheSpec Kv { get; }
    public int KvBlockBytes => _kvBlockBytes;
    /// <summary>What the host's stage offers (0 for a middle stage): its top-k rows cross the network instead of the logits.</summary>
    public int MaxLogitTopK => _maxTopK;
    public RemoteExchange LastExchange { get; private set; }

    internal RemoteStageExecutor(TcpClient client, string name, LayerRange layers, KvCacheSpec kv, int modelLayers, TimeSpan ioTimeout)
    {
        if (!DataFrames.LittleEndian) throw new PlatformNotSupportedException("data connections assume a little-endian machine");
        _client = client;
        _name = name;
        _ioTimeout = ioTimeout;
        int timeout = (int)Math.Min(int.MaxValue, ioTimeout.TotalMilliseconds);
        client.ReceiveTimeout = timeout;
        client.SendTimeout = timeout;
        _frames = new DataFrames(client.GetStream(), name);
        Layers = layers;
        Kv = kv;
        IsFirst = layers.Start == 0;
        IsLast = layers.End == modelLayers;
    }

    /// <summary>Presents the session key; the host loads the stage and says its sizes.</summary>
    internal void Open(byte[] key)
    {
        Call(() =>
        {
            _frames.Begin();
            _frames.Put(key);
            _frames.Send(FrameKind.Hello);
            Expect(FrameKind.Ready);
            _kvBlockBytes = _frames.ReadInt();
            _hidden = _frames.ReadInt();
            _vocab = _frames.ReadInt();
            _maxTopK = _frames.ReadInt();
        });
    }

    /// <summary>
    /// Small and large echoes on the data connection, fitted to the shared link model (one way = half the
    /// median round trip: the median, not the best, because a step pays the typical wake-up of the threads at
    /// both ends, not the luckiest): what `actors topology` and the prediction of a step's transfer time use.
    /// </summary>
    public LinkModel MeasureLink(int smallBytes = 64, int largeBytes = 4 << 20)
    {
        var small = new byte[smallBytes];
        var large = new byte[largeBytes];
        Random.Shared.NextBytes(large);
        double Median(byte[] payload, int times)
        {
            var rtts = new double[times];
            for (int i = 0; i < times; i++)
            {
                long t = Stopwatch.GetTimestamp();
                Call(() =>
                {
                    _frames.Begin();
                    _frames.Put(payload);
                    _frames.Send(FrameKind.Echo);
                    Expect(FrameKind.Echo);
                    _frames.Skip();
                });
                rtts[i] = Stopwatch.GetElapsedTime(t).TotalSeconds;
            }
            Array.Sort(rtts);
            return rtts[times / 2];
        }
        Median(large, 1); // warm the path (buffers, JIT)
        double s = Median(small, 21), l = Median(large, 5);
        return LinkModel.Fit(smallBytes + DataFrames.HeaderBytes, s / 2, largeBytes + DataFrames.HeaderBytes, l / 2);
    }

    public void Forward(StepBatch batch, ReadOnlySpan<float> hiddenIn, Span<float> output)
    {
        var input = IsFirst ? ReadOnlySpan<float>.Empty : hiddenIn;
        // The span cannot enter the lambda: copy-free sending happens here, the answer is read in Call.
        long started = Stopwatch.GetTimestamp();
        long sent0 = _frames.BytesWritten, read0 = _frames.BytesRead;
        double remote = 0;
        try
        {
            EnsureUsable();
            _frames.Begin();
            StepBatchCodec.Write(_frames, batch);
            _frames.PutArray(input);
            _frames.Send(FrameKind.Forward);
            Expect(FrameKind.Output);
            remote = _frames.ReadDouble();
            int n = _frames.ReadLength(output.Length, "stage output");
            if (n != output.Length) throw new InvalidDataException($"{_name} returned {n} floats, expected {output.Length}");
            _frames.ReadInto(output);
        }
        catch (Exception ex) when (IsConnectionFault(ex))
        {
            throw Broken(ex);
        }
        LastExchange = new RemoteExchange(_frames.BytesWritten - sent0, _frames.BytesRead - read0, Stopwatch.GetElapsedTime(started).TotalSeconds, remote);
    }

    public void ForwardTopK(StepBatch batch, ReadOnlySpan<float> hiddenIn, int k, Span<int> indices, Span<float> values)
    {
        if (k < 1 || k > _maxTopK) throw new ArgumentOutOfRangeException(nameof(k), k, $"{_name} returns top-k rows for k in 1..{_maxTopK}");
        int rows = batch.LogitCount * k;
        if (indices.Length < rows || values.Length < rows) throw new ArgumentException($"indices and values need {rows} entries each");
        var input = IsFirst ? ReadOnlySpan<float>.Empty : hiddenIn;
        long started = Stopwatch.GetTimestamp();
        long sent0 = _frames.BytesWritten, read0 = _frames.BytesRead;
        double remote = 0;
        try
        {
            EnsureUsable();
            _frames.Begin();
            StepBatchCodec.Write(_frames, batch);
            _frames.Put(k);
            _frames.PutArray(input);
            _frames.Send(FrameKind.ForwardTopK);
            Expect(FrameKind.TopK);
            remote = _frames.ReadDouble();
            int n = _frames.ReadLength(rows, "top-k ids");
            if (n != rows) throw new InvalidDataException($"{_name} returned {n} top-k ids, expected {rows}");
            _frames.ReadInto(indices[..n]);
            n = _frames.ReadLength(rows, "top-k values");
            if (n != rows) throw new InvalidDataException($"{_name} returned {n} top-k values, expected {rows}");
            _frames.ReadInto(values[..n]);
        }
        catch (Exception ex) when (IsConnectionFault(ex))
        {
            throw Broken(ex);
        }
        LastExchange = new RemoteExchange(_frames.BytesWritten - sent0, _frames.BytesRead - read0, Stopwatch.GetElapsedTime(started).TotalSeconds, remote);
    }

    public void ReadNormedHidden(int token, Span<float> destination)
    {
        try
        {
            EnsureUsable();
            _frames.Begin();
            _frames.Put(token);
            _frames.Send(FrameKind.ReadNormed);
            Expect(FrameKind.Output);
            _frames.ReadDouble();
            int n = _frames.ReadLength(destination.Length, "a hidden state");
            _frames.ReadInto(destination[..n]);
        }
        catch (Exception ex) when (IsConnectionFault(ex))
        {
            throw Broken(ex);
        }
    }

    public void ReadKvBlock(int block, Span<byte> destination)
    {
        try
        {
            EnsureUsable();
            _frames.Begin();
            _frames.Put(block);
            _frames.Send(FrameKind.ReadKv);
            Expect(FrameKind.KvBytes);
            int n = _frames.ReadLength(destination.Length, "a KV page");
            if (n != _kvBlockBytes) throw new InvalidDataException($"{_name} sent a KV page of {n} bytes, expected {_kvBlockBytes}");
            _frames.ReadInto(destination[..n]);
        }
        catch (Exception ex) when (IsConnectionFault(ex))
        {
            throw Broken(ex);
        }
    }

    public void WriteKvBlock(int block, ReadOnlySpan<byte> source)
    {
        try
        {
            EnsureUsable();
            _frames.Begin();
            _frames.Put(block);
            _frames.PutArray(source);
            _frames.Send(FrameKind.WriteKv);
            Expect(FrameKind.Ack);
        }
        catch (Exception ex) when (IsConnectionFault(ex))
        {
            throw Broken(ex);
        }
    }

    public void CopyKvBlock(int source, int destination) => Call(() =>
    {
        _frames.Begin();
        _frames.Put(source);
        _frames.Put(destination);
        _frames.Send(FrameKind.CopyKv);
        Expect(FrameKind.Ack);
    });

    private void Call(Action exchange)
    {
        try
        {
            EnsureUsable();
            exchange();
        }
        catch (Exception ex) when (IsConnectionFault(ex))
        {
            throw Broken(ex);
        }
    }

    /// <summary>Reads the answer's header; an Error frame becomes a one-step failure with the host's reason.</summary>
    private void Expect(FrameKind kind)
    {
        var (got, _) = _frames.Next();
        if (got == kind) return;
        if (got == FrameKind.Error) throw new RemoteStageException($"{_name}: {_frames.ReadText()}");
        _frames.Skip();
        throw new InvalidDataException($"{_name} answered {got}, expected {kind}");
    }

    private void EnsureUsable()
    {
        if (_broken) throw new StickyDeviceFaultException($"{_name}: the data connection is broken (an earlier transfer failed)");
    }

    private static bool IsConnectionFault(Exception ex) => ex is IOException or SocketException or InvalidDataException or ObjectDisposedException;

    private StickyDeviceFaultException Broken(Exception ex)
    {
        _broken = true;
        try { _client.Dispose(); } catch (Exception) { }
        string why = ex is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } }
            ? $"no answer within the I/O timeout ({_ioTimeout.TotalSeconds:F0} s, actors-runtime.transfer.network-timeout): the peer hangs or the network is down"
            : ex.Message;
        return new StickyDeviceFaultException($"remote stage {_name}, {Layers}: {why}", ex);
    }

    public void Dispose()
    {
        if (!_broken)
        {
            try
            {
                _frames.Begin();
                _frames.Send(FrameKind.Close);
            }
            catch (Exception)
            {
                // The peer is gone already.
            }
        }
        _broken = true;
        _client.Dispose();
    }
}

/// <summary>A remote stage host reported that a request failed (the stage itself threw); the connection stays usable.</summary>
public sealed class RemoteStageException(string message) : Exception(message);
