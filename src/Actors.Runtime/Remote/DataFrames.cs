using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Actors.Runtime.Remote;

/// <summary>What a frame on a stage's data connection carries.</summary>
public enum FrameKind : byte
{
    /// <summary>Runtime → host, first frame: the 16-byte session key from <see cref="RemoteStageOpened"/>.</summary>
    Hello = 1,
    /// <summary>Host → runtime: the stage is loaded (KV block bytes, hidden size, vocabulary size, the largest top-k it returns).</summary>
    Ready = 2,
    /// <summary>Runtime → host: one step's batch and the hidden states coming in.</summary>
    Forward = 3,
    /// <summary>Host → runtime: the remote compute seconds and the floats going out (hidden states or logits).</summary>
    Output = 4,
    ReadKv = 5,
    KvBytes = 6,
    WriteKv = 7,
    CopyKv = 8,
    Ack = 9,
    /// <summary>Runtime → host: the final-norm hidden state of one token of the last batch (embeddings); answered with <see cref="Output"/>.</summary>
    ReadNormed = 10,
    /// <summary>Either way: bytes sent straight back (latency and bandwidth probes).</summary>
    Echo = 11,
    /// <summary>Host → runtime: the request failed; UTF-8 reason.</summary>
    Error = 12,
    Close = 13,
    /// <summary>Runtime → host: one step's batch, the k and the hidden states coming in; the last stage answers with <see cref="TopK"/>.</summary>
    ForwardTopK = 14,
    /// <summary>Host → runtime: the remote compute seconds and each logit row's top-k ids then values ([rows, k] each): 8·k bytes a row instead of the row.</summary>
    TopK = 15,
}

/// <summary>
/// Length-prefixed frames on a stage's data connection: an 8-byte header (payload length, kind, 3 spare
/// bytes) then the payload, little-endian. A frame is built in one reused buffer and written with one call,
/// so a step allocates nothing; a length over <see cref="MaxPayload"/> is refused before anything is read
/// into memory. Not thread-safe: one connection is used by one thread at a time (the stage's device thread
/// on the runtime's side, the session's thread on the host's).
/// </summary>
public sealed class DataFrames(Stream stream, string peer)
{
    public const int HeaderBytes = 8;

    /// <summary>
    /// Socket buffers of a data connection: a prefill step's activations (hundreds of KB) fit at once, so the
    /// receiver's thread wakes once per frame instead of once per default-sized buffer.
    /// </summary>
    public const int SocketBufferBytes = 8 << 20;
    public const int MaxPayload = 1 << 30;

    private byte[] _out = new byte[64 << 10];
    private int _length = HeaderBytes;
    private readonly byte[] _header = new byte[HeaderBytes];

    /// <summary>Bytes written and read so far, headers included (what the accounting books).</summary>
    public long BytesWritten { get; private set; }
    public long BytesRead { get; private set; }

    /// <summary>Who is at the other end, for error messages.</summary>
    public string Peer => peer;

    public static bool LittleEndian => BitConverter.IsLittleEndian;

    // ---- writing: Begin, Put..., Send ----

    public void Begin() => _length = HeaderBytes;

    public void Put(int value)
    {
        Reserve(4);
        BinaryPrimitives.WriteInt32LittleEndian(_out.AsSpan(_length), value);
        _length += 4;
    }

    public void Put(double value)
    {
        Reserve(8);
        BinaryPrimitives.WriteDoubleLittleEndian(_out.AsSpan(_length), value);
        _length += 8;
    }

    public void Put(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_out.AsSpan(_length));
        _length += bytes.Length;
    }

    /// <summary>A length and the values (the machine is little-endian, checked where a connection opens).</summary>
    public void PutArray(ReadOnlySpan<int> values)
    {
        Put(values.Length);
        Put(MemoryMarshal.AsBytes(values));
    }

    public void PutArray(ReadOnlySpan<float> values)
    {
        Put(values.Length);
        Put(MemoryMarshal.AsBytes(values));
    }

    public void PutArray(ReadOnlySpan<byte> values)
    {
        Put(values.Length);
        Put(values);
    }

    /// <summary>Writes the frame built since <see cref="Begin"/>; returns its bytes, header included.</summary>
    public int Send(FrameKind kind)
    {
        int payload = _length - HeaderBytes;
        BinaryPrimitives.WriteInt32LittleEndian(_out, payload);
        _out[4] = (byte)kind;
        _out[5] = _out[6] = _out[7] = 0;
        stream.Write(_out, 0, _length);
        BytesWritten += _length;
        int sent = _length;
        _length = HeaderBytes;
        return sent;
    }

    private void Reserve(int more)
    {
        if (_length + more <= _out.Length) return;
        if ((long)_length + more > MaxPayload + HeaderBytes) throw new InvalidOperationException($"a frame to {peer} would exceed {MaxPayload} bytes");
        Array.Resize(ref _out, (int)Math.Min(MaxPayload + (long)HeaderBytes, Math.Max(_length + more, 2L * _out.Length)));
    }

    // ---- reading: Next, then Read... of exactly the payload ----

    private int _remaining;

    /// <summary>Reads the next frame's header; the payload is read with the Read methods, all of it.</summary>
    public (FrameKind Kind, int Length) Next()
    {
        if (_remaining != 0) throw new InvalidOperationException($"{_remaining} bytes of the previous frame from {peer} were not read");
        Fill(_header);
        int length = BinaryPrimitives.ReadInt32LittleEndian(_header);
        var kind = (FrameKind)_header[4];
        if (length < 0 || length > MaxPayload) throw new InvalidDataException($"a frame from {peer} says {length} bytes, outside 0..{MaxPayload}: the stream is out of step or not a data connection");
        if (!Enum.IsDefined(kind)) throw new InvalidDataException($"a frame from {peer} has unknown kind {(byte)kind}");
        _remaining = length;
        BytesRead += HeaderBytes;
        return (kind, length);
    }

    public int ReadInt()
    {
        Span<byte> b = stackalloc byte[4];
        ReadInto(b);
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    public double ReadDouble()
    {
        Span<byte> b = stackalloc byte[8];
        ReadInto(b);
        return BinaryPrimitives.ReadDoubleLittleEndian(b);
    }

    /// <summary>A length written by PutArray, checked against what the caller can hold.</summary>
    public int ReadLength(int capacity, string what)
    {
        int n = ReadInt();
        if (n < 0 || n > capacity) throw new InvalidDataException($"{what} from {peer}: {n} elements, but room for {capacity}");
        return n;
    }

    public void ReadInto(Span<byte> destination)
    {
        if (destination.Length > _remaining) throw new InvalidDataException($"a frame from {peer} is shorter than its contents ({_remaining} bytes left, {destination.Length} wanted)");
        Fill(destination);
        _remaining -= destination.Length;
        BytesRead += destination.Length;
    }

    public void ReadInto(Span<int> destination) => ReadInto(MemoryMarshal.AsBytes(destination));

    public void ReadInto(Span<float> destination) => ReadInto(MemoryMarshal.AsBytes(destination));

    /// <summary>Reads and drops what is left of the frame.</summary>
    public void Skip()
    {
        Span<byte> sink = stackalloc byte[4096];
        while (_remaining > 0) ReadInto(sink[..Math.Min(sink.Length, _remaining)]);
    }

    public string ReadText()
    {
        var bytes = new byte[_remaining];
        ReadInto(bytes);
        return System.Text.Encoding.UTF8.GetString(bytes);
    }

    private void Fill(Span<byte> destination)
    {
        int got = 0;
        while (got < destination.Length)
        {
            int n = stream.Read(destination[got..]);
            if (n == 0) throw new EndOfStreamException($"the data connection to {peer} closed mid-transfer ({got} of {destination.Length} bytes read)");
            got += n;
        }
    }
}
