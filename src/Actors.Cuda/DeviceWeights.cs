using Actors.Inference.Gguf;
using Actors.Inference.Model;
using Actors.Interop.Cuda;

namespace Actors.Cuda;

/// <summary>A weight matrix resident on the device, still in its ggml blocks: [Rows, RowBytes].</summary>
public sealed class DeviceMatrix(string name, DeviceBuffer buffer, GgmlType type, int rows, int cols, long rowBytes) : IDisposable
{
    public string Name { get; } = name;
    public DeviceBuffer Buffer { get; } = buffer;
    public GgmlType Type { get; } = type;
    public int Rows { get; } = rows;
    public int Cols { get; } = cols;
    public long RowBytes { get; } = rowBytes;
    public ulong Pointer => Buffer.Pointer;

    public void Dispose() => Buffer.Dispose();
}

/// <summary>The weights of one transformer block on the device (owned and freed by the stage).</summary>
internal sealed class DeviceLayer
{
    public required DeviceBuffer AttentionNorm, FfnNorm;
    public required DeviceMatrix Query, Key, Value, Output, Gate, Up, Down;
}

/// <summary>
/// Copies host bytes (a memory-mapped GGUF tensor) to the device through two halves of a pinned
/// staging buffer: while one half is in flight the CPU fills the other, and an event per half says
/// when it may be refilled.
/// </summary>
internal sealed class WeightUploader : IDisposable
{
    private readonly CudaStream _stream;
    private readonly PinnedHostBuffer _staging;
    private readonly CudaEvent[] _done;
    private readonly bool[] _pending = new bool[2];
    private readonly long _half;

    public WeightUploader(CudaContext context, CudaStream stream, long stagingBytes)
    {
        _stream = stream;
        _half = stagingBytes / 2;
        _staging = PinnedHostBuffer.Allocate(context, 2 * _half);
        _done = [CudaEvent.Create(context, timing: false), CudaEvent.Create(context, timing: false)];
    }

    public DeviceMatrix Upload(CudaContext context, WeightMatrix m)
    {
        var buffer = DeviceBuffer.Allocate(context, m.ByteSize);
        try
        {
            Copy(m.Source, m.ByteSize, buffer);
            return new DeviceMatrix(m.Name, buffer, m.Type, m.Rows, m.Cols, m.RowBytes);
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    public DeviceBuffer Upload(CudaContext context, float[] values)
    {
        var buffer = DeviceBuffer.Allocate(context, 4L * values.Length);
        try
        {
            buffer.Upload<float>(values, _stream);
            return buffer;
        }
        catch
        {
            buffer.Dispose();
            throw;
        }
    }

    private void Copy(TensorSource source, long bytes, DeviceBuffer destination)
    {
        int chunk = 0;
        for (long offset = 0; offset < bytes; offset += _half, chunk++)
        {
            int half = chunk & 1;
            int length = (int)Math.Min(_half, bytes - offset);
            if (_pending[half]) _done[half].Synchronize();
            source.Span(offset, length).CopyTo(_staging.AsSpan<byte>(half * _half, length));
            _staging.CopyToDevice(half * _half, destination.At(offset), length, _stream);
            _done[half].Record(_stream);
            _pending[half] = true;
        }
    }

    /// <summary>Waits until every queued copy has landed.</summary>
    public void Finish() => _stream.Synchronize();

    public void Dispose()
    {
        _stream.Synchronize();
        foreach (var e in _done) e.Dispose();
        _staging.Dispose();
    }
}
